"""Inputs whose change makes the provider replace the resource, per resource kind the project uses.

`python -m offline diff` flags a changed input found here as `REPLACES`: the engine deletes the
resource and creates a new one (for a named resource, with `delete_before_replace`, in that
order). Keys are Pulumi type tokens, values the Pulumi input names (camelCase, as the recorded
graph holds them) of top-level arguments; a change anywhere below one (`encryptionConfigurations
[0].kmsKey`) counts.

Source: pulumi-aws is bridged from terraform-provider-aws, and an argument the Terraform schema
marks `ForceNew: true` is one the bridge replaces on. Read from the provider's repository
(`git grep -n "ForceNew: *true" -- internal/service/<svc>/<resource>.go`), one file per entry
below, and mapped snake_case -> the Pulumi name the graph uses (Pulumi renames a few:
`alarm_name` -> `name`, `topic_arn` -> `topic`, `encryption_configuration` ->
`encryptionConfigurations`). Only arguments this project sets are listed (a test holds every
name here to the recorded inputs, so a rename or typo fails); conditional replacements
(`CustomizeDiff`: a Redis engine downgrade, `privateDnsEnabled` on a Gateway endpoint) are left
out. Kinds with no entry update every input this project sets in place (kms Key, sqs
QueuePolicy's policy, the security-group rules, ...), or are not AWS resources.

By nature: an ECS task definition revision is immutable (every argument but `tags` is ForceNew
in task_definition.go; a change registers a new revision and the service rolls to it), and a
Flow Log is updated for tags only (vpc_flow_log.go), so those list every input they set. The
random provider's resources are values generated once: every argument RequiresReplace
(terraform-provider-random internal/provider/resource_id.go; random_password alike), so a change
there generates a new value (a new HMAC key, for the idempotency secret).
"""

from __future__ import annotations

from collections.abc import Mapping

# NOTE: AWS documents the task definition case: "To update a task definition, create a task
# definition revision" (docs.aws.amazon.com/AmazonECS/latest/developerguide/
# update-task-definition-console-v2.html); the rest follow the provider's ForceNew flags above.
REPLACEMENTS: Mapping[str, frozenset[str]] = {
    # ec2/vpc_.go, vpc_subnet.go, vpc_security_group.go, vpc_endpoint.go, vpc_route_table.go,
    # vpc_route_table_association.go, vpc_flow_log.go
    "aws:ec2/vpc:Vpc": frozenset({"cidrBlock"}),
    "aws:ec2/subnet:Subnet": frozenset({"availabilityZoneId", "cidrBlock", "vpcId"}),
    "aws:ec2/securityGroup:SecurityGroup": frozenset({"description", "vpcId"}),
    "aws:ec2/vpcEndpoint:VpcEndpoint": frozenset({"serviceName", "vpcEndpointType", "vpcId"}),
    "aws:ec2/routeTable:RouteTable": frozenset({"vpcId"}),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": frozenset({"subnetId"}),
    "aws:ec2/flowLog:FlowLog": frozenset(
        {
            "iamRoleArn",
            "logDestination",
            "logDestinationType",
            "maxAggregationInterval",
            "trafficType",
            "vpcId",
        }
    ),
    # rds/cluster.go, cluster_instance.go, cluster_parameter_group.go, subnet_group.go
    "aws:rds/cluster:Cluster": frozenset(
        {
            "clusterIdentifier",
            "databaseName",
            "dbSubnetGroupName",
            "engine",
            "engineMode",
            "kmsKeyId",
            "masterUsername",
            "storageEncrypted",
        }
    ),
    "aws:rds/clusterInstance:ClusterInstance": frozenset(
        {"availabilityZone", "clusterIdentifier", "engine", "identifier"}
    ),
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": frozenset(
        {"description", "family", "name"}
    ),
    "aws:rds/subnetGroup:SubnetGroup": frozenset({"name"}),
    # elasticache/replication_group.go, subnet_group.go, user.go
    "aws:elasticache/replicationGroup:ReplicationGroup": frozenset(
        {"atRestEncryptionEnabled", "kmsKeyId", "port", "replicationGroupId", "subnetGroupName"}
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": frozenset({"name"}),
    "aws:elasticache/user:User": frozenset({"userId", "userName"}),
    # ecs/task_definition.go (by nature, see above), service.go, cluster.go; ecr/repository.go
    "aws:ecs/taskDefinition:TaskDefinition": frozenset(
        {
            "containerDefinitions",
            "cpu",
            "executionRoleArn",
            "family",
            "memory",
            "networkMode",
            "requiresCompatibilities",
            "runtimePlatform",
            "taskRoleArn",
            "volumes",
        }
    ),
    "aws:ecs/service:Service": frozenset({"cluster", "launchType", "name"}),
    "aws:ecs/cluster:Cluster": frozenset({"name"}),
    "aws:ecr/repository:Repository": frozenset({"encryptionConfigurations", "name"}),
    # logs/group.go, logs/metric_filter.go, cloudwatch/metric_alarm.go
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name"}),
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": frozenset({"logGroupName", "name"}),
    "aws:cloudwatch/metricAlarm:MetricAlarm": frozenset({"name"}),
    # kms/alias.go
    "aws:kms/alias:Alias": frozenset({"name"}),
    # elbv2/load_balancer.go, target_group.go, listener.go
    "aws:lb/loadBalancer:LoadBalancer": frozenset({"internal", "loadBalancerType", "name"}),
    "aws:lb/targetGroup:TargetGroup": frozenset(
        {"name", "port", "protocol", "targetType", "vpcId"}
    ),
    "aws:lb/listener:Listener": frozenset({"loadBalancerArn"}),
    # sns/topic.go, topic_subscription.go; sqs/queue.go, queue_policy.go
    "aws:sns/topic:Topic": frozenset({"name"}),
    "aws:sns/topicSubscription:TopicSubscription": frozenset({"endpoint", "protocol", "topic"}),
    "aws:sqs/queue:Queue": frozenset({"name"}),
    "aws:sqs/queuePolicy:QueuePolicy": frozenset({"queueUrl"}),
    # secretsmanager/secret.go, secret_version.go
    "aws:secretsmanager/secret:Secret": frozenset({"name"}),
    "aws:secretsmanager/secretVersion:SecretVersion": frozenset({"secretId", "secretString"}),
    # iam/role.go, role_policy.go; appautoscaling/target.go; s3/bucket.go
    "aws:iam/role:Role": frozenset({"name"}),
    "aws:iam/rolePolicy:RolePolicy": frozenset({"role"}),
    "aws:appautoscaling/target:Target": frozenset(
        {"resourceId", "scalableDimension", "serviceNamespace"}
    ),
    "aws:s3/bucket:Bucket": frozenset({"bucket"}),
    # terraform-provider-random: generated values (by nature, see above)
    "random:index/randomId:RandomId": frozenset({"byteLength", "keepers", "prefix"}),
    "random:index/randomPassword:RandomPassword": frozenset({"length", "special"}),
}
