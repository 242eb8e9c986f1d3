"""The platform's scaling policy, shared by the profile's validation and the guardrails."""

# The platform absorbs a 10x traffic spike by scaling out: an autoscaling maximum is at least
# this many times the baseline task count. The profile checks the configured values at load;
# the guardrails check the recorded graph, so neither can drift from the other.
SPIKE_FACTOR = 10
