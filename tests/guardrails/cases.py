"""Per-rule synthetic cases: for each rule a graph that passes and graphs that must fail.

Each Case names the rule, a good graph (the rule finds nothing), a bad graph, the control the
violation must cite and the resource it must name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resource_graph import Graph, Resource
from tests.guardrails.synth import (
    ACCOUNT,
    KEY_ARN,
    TAGS,
    bucket,
    deny_insecure,
    doc,
    graph,
    key,
    res,
)


@dataclass(frozen=True)
class Case:
    rule: str
    label: str
    good: Callable[[], Graph]
    bad: Callable[[], Graph]
    control: str
    resource: str  # logical name the violation must name


CASES: list[Case] = []


def case(rule: str, label: str, control: str, resource: str) -> Callable[..., Any]:
    def register(factory: Callable[[bool], Graph]) -> Callable[[bool], Graph]:
        CASES.append(
            Case(rule, label, lambda: factory(True), lambda: factory(False), control, resource)
        )
        return factory

    return register


# ------------------------------------------------------------------------------------ network


@case("network-subnets", "public IP on launch", "EC2.15", "public-a")
def _(ok: bool) -> Graph:
    return graph(res("aws:ec2/subnet:Subnet", "public-a", mapPublicIpOnLaunch=not ok))


VPC = res("aws:ec2/vpc:Vpc", "vpc", id="vpc-1", cidrBlock="10.0.0.0/16")
LOG_GROUP_ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/payment/dev/flow"


def _flow_group(encrypted: bool = True) -> Resource:
    return res(
        "aws:cloudwatch/logGroup:LogGroup",
        "flow-group",
        id="/payment/dev/flow",
        arn=LOG_GROUP_ARN,
        kmsKeyId=KEY_ARN if encrypted else None,
        retentionInDays=30,
    )


@case("network-flow-logs", "flow log rejects only", "EC2.6", "flow-log")
def _(ok: bool) -> Graph:
    flow = res(
        "aws:ec2/flowLog:FlowLog",
        "flow-log",
        vpcId="vpc-1",
        trafficType="ALL" if ok else "REJECT",
        logDestination=LOG_GROUP_ARN,
    )
    return graph(VPC, key(), _flow_group(), flow)


@case("network-flow-logs", "flow log group not on the key", "EC2.6", "flow-log")
def _(ok: bool) -> Graph:
    flow = res(
        "aws:ec2/flowLog:FlowLog",
        "flow-log",
        vpcId="vpc-1",
        trafficType="ALL",
        logDestination=LOG_GROUP_ARN,
    )
    return graph(VPC, key(), _flow_group(encrypted=ok), flow)


@case("network-default-sg", "default group keeps a rule", "EC2.2", "default-sg")
def _(ok: bool) -> Graph:
    ingress = [] if ok else [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]
    return graph(
        VPC,
        res(
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "default-sg",
            vpcId="vpc-1",
            ingress=ingress,
        ),
    )


SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def _sg(name: str) -> Resource:
    return res(SG, name, id=f"sg-{name}", vpcId="vpc-1", description=f"{name} group")


@case("network-ingress", "SSH open to the internet", "EC2.53", "api-ssh")
def _(ok: bool) -> Graph:
    source: dict[str, Any] = (
        {"referencedSecurityGroupId": "sg-alb"} if ok else {"cidrIpv4": "0.0.0.0/0"}
    )
    rule = res(
        INGRESS,
        "api-ssh",
        securityGroupId="sg-api",
        ipProtocol="tcp",
        fromPort=22 if not ok else 8080,
        toPort=22 if not ok else 8080,
        description="x",
        **source,
    )
    return graph(_sg("api"), _sg("alb"), rule)


@case("network-ingress", "inline all-ports rule from the internet", "EC2.19", "db")
def _(ok: bool) -> Graph:
    entry = {
        "protocol": "tcp",
        "fromPort": 5432,
        "toPort": 5432,
        "securityGroups": ["sg-api"],
        "description": "x",
    }
    if not ok:
        entry = {
            "protocol": "-1",
            "fromPort": 0,
            "toPort": 0,
            "cidrBlocks": ["0.0.0.0/0"],
            "description": "x",
        }
    return graph(res(SG, "db", id="sg-db", description="db", ingress=[entry]))


@case(
    "network-egress", "egress anywhere, all protocols, undescribed", "AwsSolutions-EC27", "api-out"
)
def _(ok: bool) -> Graph:
    if ok:
        rule = res(
            EGRESS,
            "api-out",
            securityGroupId="sg-api",
            ipProtocol="tcp",
            fromPort=443,
            toPort=443,
            prefixListId="pl-1",
            description="S3 through the gateway endpoint",
        )
    else:
        rule = res(
            EGRESS, "api-out", securityGroupId="sg-api", ipProtocol="-1", cidrIpv4="0.0.0.0/0"
        )
    return graph(_sg("api"), rule)


@case("network-egress", "group without description", "AwsSolutions-EC27", "api")
def _(ok: bool) -> Graph:
    return graph(res(SG, "api", id="sg-api", description="API tasks" if ok else None))


def _endpoint(service: str, kind: str = "Interface") -> Resource:
    return res(
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        f"vpce-{service}",
        serviceName=f"com.amazonaws.us-east-1.{service}",
        vpcEndpointType=kind,
        privateDnsEnabled=kind == "Interface",
    )


@case("network-endpoints", "no ECR dkr endpoint", "EC2.56", "vpc")
def _(ok: bool) -> Graph:
    services = ["ecr.api", "logs", "secretsmanager"] + (["ecr.dkr"] if ok else [])
    return graph(VPC, _endpoint("s3", "Gateway"), *(_endpoint(s) for s in services))


@case("no-nat-gateway", "NAT gateway", "DESIGN no-NAT", "nat")
def _(ok: bool) -> Graph:
    return graph(
        *([] if ok else [res("aws:ec2/natGateway:NatGateway", "nat", subnetId="subnet-1")])
    )


@case("no-internet-route", "private table routes to the IGW", "PCI DSS 1.4.1", "private-default")
def _(ok: bool) -> Graph:
    route = res(
        "aws:ec2/route:Route",
        "private-default",
        routeTableId="rtb-private",
        destinationCidrBlock="10.1.0.0/16" if ok else "0.0.0.0/0",
        gatewayId="igw-1",
    )
    return graph(res("aws:ec2/internetGateway:InternetGateway", "igw", id="igw-1"), route)


# --------------------------------------------------------------------------------------- edge

LB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/payment-alb-dev/abc"
LB = "aws:lb/loadBalancer:LoadBalancer"


def _lb(**overrides: Any) -> Resource:
    inputs: dict[str, Any] = {
        "name": "payment-alb-dev",
        "loadBalancerType": "application",
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-alb"],
        "dropInvalidHeaderFields": True,
        "desyncMitigationMode": "defensive",
        "accessLogs": {"bucket": f"payment-alb-logs-dev-{ACCOUNT}", "enabled": True},
    }
    inputs.update(overrides)
    return res(LB, "alb", id=LB_ARN, arn=LB_ARN, **inputs)


@case("edge-alb-headers", "invalid headers passed", "ELB.4", "alb")
def _(ok: bool) -> Graph:
    return graph(_lb(dropInvalidHeaderFields=ok))


@case("edge-alb-headers", "desync monitor mode", "ELB.12", "alb")
def _(ok: bool) -> Graph:
    return graph(_lb(desyncMitigationMode="strictest" if ok else "monitor"))


@case("edge-alb-access-logs", "access logs off", "ELB.5", "alb")
def _(ok: bool) -> Graph:
    return graph(_lb(accessLogs={"bucket": "b", "enabled": ok}))


@case("edge-alb-multi-az", "one subnet", "ELB.13", "alb")
def _(ok: bool) -> Graph:
    return graph(_lb(subnets=["subnet-a", "subnet-b"] if ok else ["subnet-a"]))


LISTENER = "aws:lb/listener:Listener"


def _https(policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06") -> Resource:
    return res(
        LISTENER,
        "https",
        loadBalancerArn=LB_ARN,
        protocol="HTTPS",
        port=443,
        sslPolicy=policy,
        certificateArn=f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc",
        defaultActions=[{"type": "forward", "targetGroupArn": "tg"}],
    )


@case("edge-listeners", "HTTP listener forwards", "ELB.1", "http")
def _(ok: bool) -> Graph:
    action = (
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
        }
        if ok
        else {"type": "forward", "targetGroupArn": "tg"}
    )
    http = res(
        LISTENER, "http", loadBalancerArn=LB_ARN, protocol="HTTP", port=80, defaultActions=[action]
    )
    return graph(_lb(), _https(), http)


@case("edge-listeners", "TLS 1.0 policy", "ELB.17", "https")
def _(ok: bool) -> Graph:
    return graph(
        _lb(), _https("ELBSecurityPolicy-TLS13-1-2-2021-06" if ok else "ELBSecurityPolicy-2016-08")
    )


ACL_ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/webacl/payment-waf-dev/abc"
VISIBLE = {"cloudwatchMetricsEnabled": True, "sampledRequestsEnabled": True, "metricName": "m"}


def _waf(rate: bool = True, logging: bool = True) -> list[Resource]:
    rules: list[dict[str, Any]] = [
        {
            "name": "common",
            "statement": {"managedRuleGroupStatement": {"name": "AWSManagedRulesCommonRuleSet"}},
            "visibilityConfig": VISIBLE,
        },
    ]
    if rate:
        rules.append(
            {
                "name": "rate",
                "statement": {"rateBasedStatement": {"limit": 2000}},
                "visibilityConfig": VISIBLE,
            }
        )
    out = [
        res("aws:wafv2/webAcl:WebAcl", "waf", arn=ACL_ARN, rules=rules, visibilityConfig=VISIBLE),
        res(
            "aws:wafv2/webAclAssociation:WebAclAssociation",
            "waf-assoc",
            resourceArn=LB_ARN,
            webAclArn=ACL_ARN,
        ),
    ]
    if logging:
        out.append(
            res(
                "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
                "waf-logging",
                resourceArn=ACL_ARN,
                logDestinationConfigs=["arn:aws:logs:...:log-group:aws-waf-logs-x"],
            )
        )
    return out


@case("edge-waf", "no rate-based rule", "WAF.10", "waf")
def _(ok: bool) -> Graph:
    return graph(_lb(), *_waf(rate=ok))


@case("edge-waf", "no WAF logging", "WAF.11", "waf")
def _(ok: bool) -> Graph:
    return graph(_lb(), *_waf(logging=ok))


@case("edge-waf", "ALB without web ACL", "ELB.16", "alb")
def _(ok: bool) -> Graph:
    return graph(_lb(), *(_waf() if ok else _waf()[:1]))


# ------------------------------------------------------------------------------------ compute

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"


@case("compute-cluster", "Container Insights off", "ECS.12", "cluster")
def _(ok: bool) -> Graph:
    value = "enabled" if ok else "disabled"
    return graph(
        res(
            "aws:ecs/cluster:Cluster",
            "cluster",
            settings=[{"name": "containerInsights", "value": value}],
        )
    )


def _container(**overrides: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": "api",
        "image": "repo@sha256:0",
        "user": "1000:1000",
        "readonlyRootFilesystem": True,
        "privileged": False,
        "secrets": [
            {
                "name": "DB_PASSWORD",
                "valueFrom": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:x",
            }
        ],
        "environment": [{"name": "DB_SECRET_ARN", "value": "arn:..."}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/payment/dev/api"},
        },
    }
    c.update(overrides)
    return c


def _task(**container: Any) -> Resource:
    return res(
        TASK_DEF,
        "api-task",
        family="payment-api-dev",
        networkMode="awsvpc",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-api-task-dev",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/payment-execution-dev",
        containerDefinitions=json.dumps([_container(**container)]),
    )


@case("compute-containers", "privileged container", "ECS.4", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(privileged=not ok))


@case("compute-containers", "writable root file system", "ECS.5", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(readonlyRootFilesystem=ok))


@case("compute-containers", "runs as root", "ECS.20", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(user="1000" if ok else "root"))


@case("compute-secrets-logging", "password in plain environment", "ECS.8", "api-task")
def _(ok: bool) -> Graph:
    env = [{"name": "DB_HOST", "value": "db"}] + (
        [] if ok else [{"name": "DB_PASSWORD", "value": "hunter2"}]
    )
    return graph(_task(environment=env))


@case("compute-secrets-logging", "logs not to CloudWatch", "ECS.9", "api-task")
def _(ok: bool) -> Graph:
    return graph(_task(logConfiguration={"logDriver": "awslogs" if ok else "json-file"}))


def _service(**overrides: Any) -> Resource:
    inputs: dict[str, Any] = {
        "name": "payment-api-dev",
        "launchType": "FARGATE",
        "desiredCount": 2,
        "networkConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-api"],
            "assignPublicIp": False,
        },
        "loadBalancers": [{"containerPort": 8080, "containerName": "api", "targetGroupArn": "tg"}],
    }
    inputs.update(overrides)
    return res(SERVICE, "api-service", **inputs)


@case("compute-roles-network", "public IP on tasks", "ECS.2", "api-service")
def _(ok: bool) -> Graph:
    network = {"subnets": ["subnet-a"], "securityGroups": ["sg-api"], "assignPublicIp": not ok}
    return graph(_task(), _service(networkConfiguration=network))


@case("compute-roles-network", "one role for task and execution", "ECS.16", "api-task")
def _(ok: bool) -> Graph:
    task = _task()
    if not ok:
        task = res(TASK_DEF, "api-task", taskRoleArn="arn:role/x", executionRoleArn="arn:role/x")
    return graph(task)


@case("compute-roles-network", "pinned platform version", "ECS.10", "api-service")
def _(ok: bool) -> Graph:
    return graph(_service(platformVersion="LATEST" if ok else "1.3.0"))


def _repo(**overrides: Any) -> list[Resource]:
    inputs: dict[str, Any] = {
        "name": "payment-api-dev",
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
        "forceDelete": True,
    }
    inputs.update(overrides)
    return [
        key(),
        res("aws:ecr/repository:Repository", "repo", id="payment-api-dev", **inputs),
        res(
            "aws:ecr/lifecyclePolicy:LifecyclePolicy",
            "repo-lifecycle",
            repository="payment-api-dev",
            policy="{}",
        ),
    ]


@case("compute-ecr", "mutable tags", "ECR.2", "repo")
def _(ok: bool) -> Graph:
    return graph(*_repo(imageTagMutability="IMMUTABLE" if ok else "MUTABLE"))


@case("compute-ecr", "no scan on push", "ECR.1", "repo")
def _(ok: bool) -> Graph:
    return graph(*_repo(imageScanningConfiguration={"scanOnPush": ok}))


# ----------------------------------------------------------------------------------- database

CLUSTER = "aws:rds/cluster:Cluster"


def _db(
    env_instances: int = 1, params: dict[str, str] | None = None, **overrides: Any
) -> list[Resource]:
    inputs: dict[str, Any] = {
        "clusterIdentifier": "payment-db-dev",
        "engine": "aurora-postgresql",
        "storageEncrypted": True,
        "kmsKeyId": KEY_ARN,
        "iamDatabaseAuthenticationEnabled": True,
        "enabledCloudwatchLogsExports": ["postgresql"],
        "backupRetentionPeriod": 7,
        "copyTagsToSnapshot": True,
        "masterUsername": "payments_admin",
        "manageMasterUserPassword": True,
        "masterUserSecretKmsKeyId": KEY_ARN,
        "dbClusterParameterGroupName": "payment-db-params-dev",
        "skipFinalSnapshot": True,
    }
    inputs.update(overrides)
    parameters = (
        params
        if params is not None
        else {"rds.force_ssl": "1", "log_min_duration_statement": "1000"}
    )
    out = [
        key(),
        res(CLUSTER, "db", id="payment-db-dev", **inputs),
        res(
            "aws:rds/clusterParameterGroup:ClusterParameterGroup",
            "db-params",
            id="payment-db-params-dev",
            name="payment-db-params-dev",
            parameters=[{"name": k, "value": v} for k, v in parameters.items()],
        ),
    ]
    for i in range(env_instances):
        out.append(
            res(
                "aws:rds/clusterInstance:ClusterInstance",
                f"db-{i}",
                clusterIdentifier="payment-db-dev",
                publiclyAccessible=False,
                availabilityZone=f"us-east-1{'abc'[i % 3]}",
            )
        )
    return out


@case("database-protection", "storage unencrypted", "RDS.27", "db")
def _(ok: bool) -> Graph:
    return graph(*_db(storageEncrypted=ok))


@case("database-protection", "no query logging", "RDS.37", "db")
def _(ok: bool) -> Graph:
    params = {"rds.force_ssl": "1", "log_statement": "ddl" if ok else "none"}
    return graph(*_db(params=params))


@case("database-resilience", "default admin name", "RDS.24", "db")
def _(ok: bool) -> Graph:
    return graph(*_db(masterUsername="payments_admin" if ok else "postgres"))


@case("database-resilience", "prod with a single instance", "RDS.15", "db")
def _(ok: bool) -> Graph:
    return graph(*_db(env_instances=2 if ok else 1), env="prod", suffix="prod")


@case("database-credentials", "password in the program", "RDS.6", "db")
def _(ok: bool) -> Graph:
    extra: dict[str, Any] = {} if ok else {"manageMasterUserPassword": False, "masterPassword": "x"}
    return graph(*_db(**extra))


# -------------------------------------------------------------------------------------- cache

RG = "aws:elasticache/replicationGroup:ReplicationGroup"


def _redis(**overrides: Any) -> list[Resource]:
    inputs: dict[str, Any] = {
        "replicationGroupId": "payment-cache-dev",
        "atRestEncryptionEnabled": True,
        "kmsKeyId": KEY_ARN,
        "transitEncryptionEnabled": True,
        "authToken": "token",
        "numCacheClusters": 2,
        "automaticFailoverEnabled": True,
        "multiAzEnabled": True,
        "snapshotRetentionLimit": 1,
        "subnetGroupName": "payment-cache-subnets-dev",
    }
    inputs.update(overrides)
    return [
        key(),
        res(RG, "cache", **inputs),
        res(
            "aws:elasticache/subnetGroup:SubnetGroup",
            "cache-subnets",
            id="payment-cache-subnets-dev",
            name="payment-cache-subnets-dev",
        ),
    ]


@case("cache-encryption", "at rest on the AWS key", "ElastiCache.4", "cache")
def _(ok: bool) -> Graph:
    return graph(*_redis(kmsKeyId=KEY_ARN if ok else None))


@case("cache-encryption", "no AUTH token", "ElastiCache.6", "cache")
def _(ok: bool) -> Graph:
    return graph(*_redis(authToken="token" if ok else None))


@case("cache-resilience", "replicas without failover", "ElastiCache.3", "cache")
def _(ok: bool) -> Graph:
    return graph(*_redis(automaticFailoverEnabled=ok))


@case("cache-resilience", "default subnet group", "ElastiCache.7", "cache")
def _(ok: bool) -> Graph:
    return graph(*_redis(subnetGroupName="payment-cache-subnets-dev" if ok else None))


# ---------------------------------------------------------------------------------- messaging

QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"


def _queue(name: str, encrypted: bool = True, dlq: str | None = None) -> Resource:
    physical = f"payment-{name}-dev"
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{physical}"
    inputs: dict[str, Any] = {"name": physical}
    if encrypted:
        inputs["kmsMasterKeyId"] = KEY_ARN
    if dlq:
        inputs["redrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 5})
    return res(
        QUEUE,
        name,
        id=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{physical}",
        arn=arn,
        **inputs,
    )


def _queues(encrypted: bool = True, redrive: bool = True) -> list[Resource]:
    dlq = _queue("queue-dlq")
    main = _queue("queue", encrypted=encrypted, dlq=dlq.state["arn"] if redrive else None)
    return [key(), dlq, main]


@case("messaging-encryption", "unencrypted queue", "SQS.1", "queue")
def _(ok: bool) -> Graph:
    return graph(*_queues(encrypted=ok))


@case("messaging-encryption", "queue without DLQ", "SQS.1", "queue")
def _(ok: bool) -> Graph:
    return graph(*(_queues() if ok else [key(), _queue("queue")]))


@case("messaging-encryption", "topic on the AWS key", "cdk-nag SNSEncryptedKMS", "events")
def _(ok: bool) -> Graph:
    return graph(key(), res(TOPIC, "events", kmsMasterKeyId=KEY_ARN if ok else "alias/aws/sns"))


@case("messaging-policies", "queue open to anyone", "SQS.3", "queue")
def _(ok: bool) -> Graph:
    q = _queue("queue")
    allow: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": q.state["arn"],
    }
    if ok:
        allow["Condition"] = {
            "ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-events-dev"}
        }
    policy = res(
        "aws:sqs/queuePolicy:QueuePolicy", "queue-policy", queueUrl=q.id, policy=doc(allow)
    )
    return graph(q, policy)


@case("messaging-policies", "topic open to anyone", "SNS.4", "events")
def _(ok: bool) -> Graph:
    principal: Any = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"} if ok else {"AWS": "*"}
    allow = {"Effect": "Allow", "Principal": principal, "Action": "sns:Publish", "Resource": "t"}
    return graph(res(TOPIC, "events", policy=doc(allow)))


# ------------------------------------------------------------------------------ keys, secrets


@case("keys", "rotation off", "KMS.4", "data-key")
def _(ok: bool) -> Graph:
    return graph(key(rotation=ok))


@case("keys", "key policy open to anyone", "KMS.5", "data-key")
def _(ok: bool) -> Graph:
    principal = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"} if ok else "*"
    k = res(
        "aws:kms/key:Key",
        "data-key",
        enableKeyRotation=True,
        policy=doc(
            {"Effect": "Allow", "Principal": principal, "Action": "kms:Decrypt", "Resource": "*"}
        ),
    )
    return graph(k)


SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment-db-app-dev-AbCdEf"


@case("secrets", "secret on the AWS key", "SecretsManager.1", "app-secret")
def _(ok: bool) -> Graph:
    secret = res(
        "aws:secretsmanager/secret:Secret",
        "app-secret",
        id=SECRET_ARN,
        arn=SECRET_ARN,
        kmsKeyId=KEY_ARN if ok else None,
    )
    rotation = res(
        "aws:secretsmanager/secretRotation:SecretRotation",
        "rotation",
        secretId=SECRET_ARN,
        rotationRules={"automaticallyAfterDays": 30},
    )
    return graph(key(), secret, rotation)


@case("secrets", "secret never rotates", "SecretsManager.4", "app-secret")
def _(ok: bool) -> Graph:
    secret = res(
        "aws:secretsmanager/secret:Secret",
        "app-secret",
        id=SECRET_ARN,
        arn=SECRET_ARN,
        kmsKeyId=KEY_ARN,
    )
    rotation = res(
        "aws:secretsmanager/secretRotation:SecretRotation", "rotation", secretId=SECRET_ARN
    )
    return graph(key(), secret, *([rotation] if ok else []))


# ---------------------------------------------------------------------------------------- iam


def _role_policy(*statements: dict[str, Any]) -> Resource:
    return res(
        "aws:iam/rolePolicy:RolePolicy",
        "api-task-policy",
        role="payment-api-task-dev",
        policy=doc(*statements),
    )


QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:payment-queue-dev"


@case("iam", "Allow on action *", "IAM.1", "api-task-policy")
def _(ok: bool) -> Graph:
    action = "sqs:SendMessage" if ok else "*"
    return graph(_role_policy({"Effect": "Allow", "Action": action, "Resource": QUEUE_ARN}))


@case("iam", "Allow on every SQS action", "IAM.21", "api-task-policy")
def _(ok: bool) -> Graph:
    action = ["sqs:SendMessage", "sqs:ReceiveMessage"] if ok else "sqs:*"
    return graph(_role_policy({"Effect": "Allow", "Action": action, "Resource": QUEUE_ARN}))


@case("iam", "kms:Decrypt on any key", "KMS.2", "api-task-policy")
def _(ok: bool) -> Graph:
    statements = [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]
    statements.append(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN if ok else "*"}
    )
    return graph(_role_policy(*statements))


@case("iam", "wildcard key ARN", "KMS.2", "api-task-policy")
def _(ok: bool) -> Graph:
    resource = KEY_ARN if ok else f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"
    objects = f"arn:aws:s3:::payment-transaction-logs-dev-{ACCOUNT}/*"
    return graph(
        _role_policy(
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": resource},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": objects},
        )
    )


@case("iam", "trust policy open to any account", "IAM.1", "api-task-role")
def _(ok: bool) -> Graph:
    principal = {"Service": "ecs-tasks.amazonaws.com"} if ok else {"AWS": "*"}
    trust = doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
    return graph(
        res(
            "aws:iam/role:Role",
            "api-task-role",
            name="payment-api-task-dev",
            assumeRolePolicy=trust,
        )
    )


@case("iam", "AWS managed admin policy", "IAM.1", "admin")
def _(ok: bool) -> Graph:
    arn = (
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
        if ok
        else "arn:aws:iam::aws:policy/AdministratorAccess"
    )
    return graph(
        res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", role="r", policyArn=arn)
    )


# ------------------------------------------------------------------------------------ logging


@case("logging-log-groups", "no retention", "CloudWatch.16", "api-logs")
def _(ok: bool) -> Graph:
    group = res(
        "aws:cloudwatch/logGroup:LogGroup",
        "api-logs",
        kmsKeyId=KEY_ARN,
        retentionInDays=30 if ok else 0,
    )
    return graph(key(), group)


@case("logging-log-groups", "log group on the AWS key", "CloudWatch.16", "api-logs")
def _(ok: bool) -> Graph:
    group = res(
        "aws:cloudwatch/logGroup:LogGroup",
        "api-logs",
        kmsKeyId=KEY_ARN if ok else None,
        retentionInDays=30,
    )
    return graph(key(), group)


TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-alerts-dev"


def _alarm(actions: list[str]) -> Resource:
    return res("aws:cloudwatch/metricAlarm:MetricAlarm", "alb-5xx", alarmActions=actions)


@case("logging-alarms", "alarm without action", "CloudWatch.15", "alb-5xx")
def _(ok: bool) -> Graph:
    return graph(_alarm([TOPIC_ARN] if ok else []))


@case("logging-alarms", "topic key does not admit CloudWatch", "CloudWatch.15", "alb-5xx")
def _(ok: bool) -> Graph:
    topic = res(TOPIC, "alerts", id=TOPIC_ARN, arn=TOPIC_ARN, kmsMasterKeyId=KEY_ARN)
    return graph(key(cloudwatch=ok), topic, _alarm([TOPIC_ARN]))


# -------------------------------------------------------------------------------------- audit

TRAIL = "aws:cloudtrail/trail:Trail"


def _audit(
    validation: bool = True, data_events: bool = True, access_logs: bool = True
) -> list[Resource]:
    access = bucket("access-logs", "access-logs", sse="AES256")
    trail_bucket = bucket(
        "trail-bucket", "trail-logs-bucket", logging_target=access[0].id if access_logs else None
    )
    tx = bucket("transaction-logs", "transaction-logs", logging_target=access[0].id)
    policy = next(r for r in trail_bucket if r.type == "aws:s3/bucketPolicy:BucketPolicy")
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/payment/dev/cloudtrail"
    selectors = [
        {
            "readWriteType": "All",
            "dataResources": [{"type": "AWS::S3::Object", "values": [f"{tx[0].state['arn']}/"]}],
        }
    ]
    trail = res(
        TRAIL,
        "trail",
        deps=(policy.urn,),
        name="payment-trail-dev",
        s3BucketName=trail_bucket[0].id,
        kmsKeyId=KEY_ARN,
        enableLogFileValidation=validation,
        isMultiRegionTrail=True,
        cloudWatchLogsGroupArn=f"{group_arn}:*",
        cloudWatchLogsRoleArn="arn:aws:iam::1:role/r",
        eventSelectors=selectors if data_events else [],
    )
    group = res(
        "aws:cloudwatch/logGroup:LogGroup",
        "trail-logs",
        id="/payment/dev/cloudtrail",
        arn=group_arn,
        kmsKeyId=KEY_ARN,
        retentionInDays=365,
    )
    return [key(), *access, *trail_bucket, *tx, group, trail]


@case("audit-trail", "log file validation off", "CloudTrail.4", "trail")
def _(ok: bool) -> Graph:
    return graph(*_audit(validation=ok))


@case("audit-trail", "no data events for transaction logs", "S3.22", "trail")
def _(ok: bool) -> Graph:
    return graph(*_audit(data_events=ok))


@case("audit-trail", "trail bucket without access logs", "CloudTrail.7", "trail")
def _(ok: bool) -> Graph:
    return graph(*_audit(access_logs=ok))


@case("logging-log-groups", "audit log kept 90 days", "PCI DSS 10.5.1", "trail-logs")
def _(ok: bool) -> Graph:
    resources = _audit()
    if not ok:
        resources = [
            res(
                "aws:cloudwatch/logGroup:LogGroup",
                "trail-logs",
                id=r.id,
                arn=r.state["arn"],
                kmsKeyId=KEY_ARN,
                retentionInDays=90,
            )
            if r.name == "trail-logs"
            else r
            for r in resources
        ]
    return graph(*resources)


# ------------------------------------------------------------------------------------ storage


@case("storage-buckets", "versioning off", "S3.14", "transaction-logs")
def _(ok: bool) -> Graph:
    return graph(
        key(), *bucket("transaction-logs", "transaction-logs", versioning=ok, logging_target="x")
    )


@case("storage-buckets", "SSE-S3 on a data bucket", "S3.17", "transaction-logs")
def _(ok: bool) -> Graph:
    return graph(
        key(),
        *bucket(
            "transaction-logs",
            "transaction-logs",
            sse="aws:kms" if ok else "AES256",
            logging_target="x",
        ),
    )


@case("storage-buckets", "transaction data without access logs", "S3.9", "transaction-logs")
def _(ok: bool) -> Graph:
    return graph(
        key(), *bucket("transaction-logs", "transaction-logs", logging_target="x" if ok else None)
    )


@case("storage-buckets", "public access block missing", "S3.8", "transaction-logs")
def _(ok: bool) -> Graph:
    resources = bucket("transaction-logs", "transaction-logs", logging_target="x")
    if not ok:
        resources = [r for r in resources if "PublicAccessBlock" not in r.type]
    return graph(key(), *resources)


# ------------------------------------------------------------------- waived and design rules


@case("deletion-safeguards", "no deletion protection", "RDS.7", "db")
def _(ok: bool) -> Graph:
    return graph(res(CLUSTER, "db", deletionProtection=ok))


@case("standard-tags", "a tag missing", "DESIGN tags", "queue")
def _(ok: bool) -> Graph:
    tags = dict(TAGS) if ok else {k: v for k, v in TAGS.items() if k != "Owner"}
    return graph(res(QUEUE, "queue", tags=tags))


@case("standard-tags", "wrong environment tag", "DESIGN tags", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", tags=TAGS | ({} if ok else {"Environment": "prod"})))


@case("physical-names", "name outside the scheme", "DESIGN naming", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", name="payment-queue-dev" if ok else "orders-dev"))


@case("physical-names", "service not in NAMES", "DESIGN naming", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", name="payment-queue-dev" if ok else "payment-orders-dev"))


@case("physical-names", "bucket without account id", "DESIGN naming", "b")
def _(ok: bool) -> Graph:
    name = f"payment-alb-logs-dev-{ACCOUNT}" if ok else "payment-alb-logs-dev"
    return graph(res("aws:s3/bucket:Bucket", "b", bucket=name))


@case("physical-names", "name over its limit", "DESIGN naming", "tg")
def _(ok: bool) -> Graph:
    suffix = "pr-1" if ok else "feature-branch-123"  # payment-api-tg-<suffix> must fit 32
    return graph(
        res("aws:lb/targetGroup:TargetGroup", "tg", name=f"payment-api-tg-{suffix}"), suffix=suffix
    )


@case("physical-names", "named without delete_before_replace", "DESIGN naming", "queue")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "queue", name="payment-queue-dev", dbr=ok))


@case("destroyable", "secret with a recovery window", "DESIGN destroyable", "s")
def _(ok: bool) -> Graph:
    return graph(res("aws:secretsmanager/secret:Secret", "s", recoveryWindowInDays=0 if ok else 30))


@case("destroyable", "bucket not force-destroyed", "DESIGN destroyable", "b")
def _(ok: bool) -> Graph:
    return graph(res("aws:s3/bucket:Bucket", "b", forceDestroy=ok))


@case("destroyable", "protected resource", "DESIGN destroyable", "q")
def _(ok: bool) -> Graph:
    return graph(res(QUEUE, "q", protect=not ok))


@case("destroyable", "KMS key on a 30-day window", "DESIGN destroyable", "k")
def _(ok: bool) -> Graph:
    return graph(res("aws:kms/key:Key", "k", deletionWindowInDays=7 if ok else 30))


@case("destroyable", "final snapshot on the database", "DESIGN destroyable", "db")
def _(ok: bool) -> Graph:
    return graph(res(CLUSTER, "db", skipFinalSnapshot=ok))


def _subnets() -> list[Resource]:
    return [
        res("aws:ec2/subnet:Subnet", "private-a", id="subnet-a", availabilityZone="us-east-1a"),
        res("aws:ec2/subnet:Subnet", "private-b", id="subnet-b", availabilityZone="us-east-1b"),
    ]


@case("high-availability", "prod tasks in one subnet", "DESIGN high availability", "api-service")
def _(ok: bool) -> Graph:
    subnets = ["subnet-a", "subnet-b"] if ok else ["subnet-a"]
    network = {"subnets": subnets, "securityGroups": ["sg-api"], "assignPublicIp": False}
    return graph(*_subnets(), _service(networkConfiguration=network), env="prod", suffix="prod")


@case("high-availability", "prod reader in the writer's AZ", "RDS.15", "db-1")
def _(ok: bool) -> Graph:
    resources = _db(env_instances=2)
    if not ok:
        resources = [
            res(
                "aws:rds/clusterInstance:ClusterInstance",
                "db-1",
                clusterIdentifier="payment-db-dev",
                availabilityZone="us-east-1a",
            )
            if r.name == "db-1"
            else r
            for r in resources
        ]
    return graph(*resources, env="prod", suffix="prod")


@case("high-availability", "prod Redis without multi-AZ", "ElastiCache.3", "cache")
def _(ok: bool) -> Graph:
    return graph(*_redis(multiAzEnabled=ok), env="prod", suffix="prod")


@case("tls-in-transit", "Aurora without force_ssl", "PCI DSS 4.2.1", "db")
def _(ok: bool) -> Graph:
    params = {"log_min_duration_statement": "1000"} | ({"rds.force_ssl": "1"} if ok else {})
    return graph(*_db(params=params))


@case("tls-in-transit", "Redis in-transit preferred", "ElastiCache.5", "cache")
def _(ok: bool) -> Graph:
    return graph(*_redis(transitEncryptionMode="required" if ok else "preferred"))


@case("tls-in-transit", "queue policy without deny non-TLS", "SQS.3", "queue")
def _(ok: bool) -> Graph:
    q = _queue("queue")
    statement = (
        deny_insecure(q.state["arn"], "sqs")
        if ok
        else {"Effect": "Deny", "Principal": "*", "Action": "sqs:*"}
    )
    return graph(
        q, res("aws:sqs/queuePolicy:QueuePolicy", "qp", queueUrl=q.id, policy=doc(statement))
    )


@case("tls-in-transit", "bucket policy without deny non-TLS", "S3.5", "transaction-logs")
def _(ok: bool) -> Graph:
    resources = bucket("transaction-logs", "transaction-logs")
    if not ok:
        resources = [r for r in resources if r.type != "aws:s3/bucketPolicy:BucketPolicy"]
    return graph(*resources)


@case("tls-in-transit", "topic without a policy", "SNS.4", "events")
def _(ok: bool) -> Graph:
    arn = f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-events-dev"
    return graph(res(TOPIC, "events", policy=doc(deny_insecure(arn, "sns")) if ok else None))
