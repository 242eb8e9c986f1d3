"""Mocks that answer like AWS: realistic ids, ARNs, endpoints and DNS names per resource type.

Builders wire outputs into other resources (an ARN into a policy, an endpoint into a task's
environment), so the mocks return values shaped as AWS returns them; data sources (`call`)
answer for the account, region, partition and availability zones.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# A mock of one account's AZ mapping: us-east-1 maps AZ names to zones per account, so a real
# account may give use1-az4 any letter. The default zone list (use1-az1, -az2, -az4) gets a, b, c,
# the names the offline graphs had before subnets were placed by ID; the letters deliberately do
# not follow the ID's digit, so a test that confuses IDs and names fails.
ZONE_NAMES: dict[str, str] = {
    "use1-az1": f"{REGION}a",
    "use1-az2": f"{REGION}b",
    "use1-az4": f"{REGION}c",
    "use1-az6": f"{REGION}d",
    "use1-az3": f"{REGION}e",
    "use1-az5": f"{REGION}f",
}
AVAILABILITY_ZONES = sorted(ZONE_NAMES.values())
ELB_ACCOUNT_US_EAST_1 = "127311923021"


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT_ID) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


class AwsMocks(pulumi.runtime.Mocks):
    """Deterministic answers: the same program always gets the same ids (stable snapshots)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs: dict[str, Any] = dict(args.inputs)
        token, name = args.typ, args.name
        rid = f"{name}-{_hex(token + name, 8)}"
        state = dict(inputs)
        extra = _STATE.get(token)
        if extra is not None:
            rid, computed = extra(name, inputs, rid)
            state.update(computed)
        state.setdefault("arn", _generic_arn(token, name, inputs))
        return rid, state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # The second item lists check failures; the mock monitor iterates it, so [] (not None).
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer",
                "userId": "AIDAEXAMPLE",
                "id": ACCOUNT_ID,
            }, []
        if token == "aws:index/getRegion:getRegion":
            return {
                "name": REGION,
                "region": REGION,
                "id": REGION,
                "endpoint": "ec2.amazonaws.com",
            }, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            by_name = sorted(ZONE_NAMES.items(), key=lambda item: item[1])
            return {
                "names": [name for _, name in by_name],
                "zoneIds": [zone_id for zone_id, _ in by_name],
                "id": REGION,
            }, []
        if token == "aws:elb/getServiceAccount:getServiceAccount":
            return {
                "arn": f"arn:aws:iam::{ELB_ACCOUNT_US_EAST_1}:root",
                "id": ELB_ACCOUNT_US_EAST_1,
            }, []
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {
                "userName": "AWS",
                "password": "mock-ecr-password",
                "authorizationToken": "QVdTOm1vY2stZWNyLXBhc3N3b3Jk",  # base64 "AWS:<password>"
                "proxyEndpoint": f"https://{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com",
                "registryId": ACCOUNT_ID,
                "expiresAt": "2099-01-01T00:00:00Z",
                "id": REGION,
            }, []
        raise NotImplementedError(
            f"offline mocks have no answer for data source {token}; add one in offline/mocks.py"
        )


def zone_name(zone_id: str) -> str:
    """The AZ name the mocked account gives an AZ ID (`use1-az4` -> `us-east-1c`)."""
    try:
        return ZONE_NAMES[zone_id]
    except KeyError:
        raise ValueError(
            f"offline mocks know only {REGION}'s AZ IDs {sorted(ZONE_NAMES)}, not {zone_id!r}"
        ) from None


def _generic_arn(token: str, name: str, inputs: dict[str, Any]) -> str:
    service = token.split(":")[1].split("/")[0]
    physical = inputs.get("name") or name
    return _arn(service, f"{token.split(':')[-1].lower()}/{physical}")


def _kms_key(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    key_id = "-".join(_hex(name + str(i), n) for i, n in enumerate((8, 4, 4, 4, 12)))
    return key_id, {"arn": _arn("kms", f"key/{key_id}"), "keyId": key_id}


def _sqs_queue(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    qname = inputs.get("name") or name
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{qname}"
    return url, {"arn": _arn("sqs", qname), "url": url, "name": qname}


def _sns_topic(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    arn = _arn("sns", inputs.get("name") or name)
    return arn, {"arn": arn}


def _secret(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    arn = _arn("secretsmanager", f"secret:{inputs.get('name') or name}-{_hex(name, 6)}")
    return arn, {"arn": arn}


def _lb(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    lb_name = inputs.get("name") or name
    suffix = f"app/{lb_name}/{_hex(name, 16)}"
    return _arn("elasticloadbalancing", f"loadbalancer/{suffix}"), {
        "arn": _arn("elasticloadbalancing", f"loadbalancer/{suffix}"),
        "arnSuffix": suffix,
        "dnsName": f"{lb_name}-{_hex(name, 9)}.{REGION}.elb.amazonaws.com",
        "zoneId": "Z35SXDOTRQ7X7K",
    }


def _target_group(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    suffix = f"targetgroup/{inputs.get('name') or name}/{_hex(name, 16)}"
    arn = _arn("elasticloadbalancing", suffix)
    return arn, {"arn": arn, "arnSuffix": suffix}


def _rds_cluster(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    ident = inputs.get("clusterIdentifier") or name
    host = f"{ident}.cluster-{_hex(name, 12)}.{REGION}.rds.amazonaws.com"
    secret = _arn("secretsmanager", f"secret:rds!cluster-{_hex(name, 8)}-{_hex(name, 6)}")
    return ident, {
        "arn": _arn("rds", f"cluster:{ident}"),
        "clusterIdentifier": ident,
        "clusterResourceId": f"cluster-{_hex(name, 26).upper()}",
        "endpoint": host,
        "readerEndpoint": host.replace(".cluster-", ".cluster-ro-"),
        "port": inputs.get("port", 5432),
        "masterUserSecrets": [
            {
                "secretArn": secret,
                "secretStatus": "active",
                "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"),
            }
        ],
    }


def _rds_instance(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    ident = inputs.get("identifier") or name
    return ident, {
        "arn": _arn("rds", f"db:{ident}"),
        "endpoint": f"{ident}.{_hex(name, 12)}.{REGION}.rds.amazonaws.com",
    }


def _replication_group(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    ident = inputs.get("replicationGroupId") or name
    return ident, {
        "arn": _arn("elasticache", f"replicationgroup:{ident}"),
        "primaryEndpointAddress": f"master.{ident}.{_hex(name, 6)}.use1.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{ident}.{_hex(name, 6)}.use1.cache.amazonaws.com",
        "port": inputs.get("port", 6379),
    }


def _elasticache_user(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    # The id is the user id; the ARN names it after "user:" (not "user/").
    ident = inputs.get("userId") or name
    return ident, {"arn": _arn("elasticache", f"user:{ident}")}


def _elasticache_user_group(
    name: str, inputs: dict[str, Any], rid: str
) -> tuple[str, dict[str, Any]]:
    ident = inputs.get("userGroupId") or name
    return ident, {"arn": _arn("elasticache", f"usergroup:{ident}")}


def _ecr_repository(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    repo = inputs.get("name") or name
    return repo, {
        "arn": _arn("ecr", f"repository/{repo}"),
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{repo}",
        "registryId": ACCOUNT_ID,
    }


def _docker_image(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    digest = "sha256:" + _hex(name + "image", 64)
    tags = inputs.get("tags") or []
    base = tags[0].split(":")[0] if tags else f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{name}"
    return digest, {"digest": digest, "ref": f"{base}@{digest}"}


def _random_password(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    return "none", {"result": "mock-" + _hex(name, int(inputs.get("length", 32)) - 5)}


def _random_id(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    # Deterministic in the keepers, as the real token is stable until a keeper changes; the
    # logical name is left out so the same arguments give the same token in every environment.
    keepers = json.dumps(inputs.get("keepers") or {}, sort_keys=True, default=str)
    token = _hex(keepers, 2 * int(inputs.get("byteLength", 2)))
    return token, {"hex": f"{inputs.get('prefix') or ''}{token}"}


def _tls_key(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    pem = "-----BEGIN PRIVATE KEY-----\nMOCK\n-----END PRIVATE KEY-----\n"
    return _hex(name, 40), {"privateKeyPem": pem, "publicKeyPem": pem.replace("PRIVATE", "PUBLIC")}


def _tls_cert(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    return _hex(name, 32), {
        "certPem": "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"
    }


def _acm_certificate(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    cert_id = f"{_hex(name, 8)}-{_hex(name, 4)}-{_hex(name, 4)}-{_hex(name, 4)}-{_hex(name, 12)}"
    arn = _arn("acm", f"certificate/{cert_id}")
    return arn, {"arn": arn}


def _iam_role(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    role = inputs.get("name") or name
    return role, {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}", "name": role}


def _log_group(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    group = inputs.get("name") or name
    return group, {"arn": _arn("logs", f"log-group:{group}"), "name": group}


def _bucket(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    bucket = inputs.get("bucket") or name
    return bucket, {
        "arn": f"arn:aws:s3:::{bucket}",
        "bucket": bucket,
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
    }


def _ecs_cluster(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    cluster = inputs.get("name") or name
    arn = _arn("ecs", f"cluster/{cluster}")
    return arn, {"arn": arn, "name": cluster}


def _ecs_service(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    service = inputs.get("name") or name
    arn = _arn("ecs", f"service/{service}")
    return arn, {"arn": arn, "name": service}


def _task_definition(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    family = inputs.get("family") or name
    arn = _arn("ecs", f"task-definition/{family}:1")
    return arn, {"arn": arn, "revision": 1, "arnWithoutRevision": arn.rsplit(":", 1)[0]}


def _web_acl(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    acl = inputs.get("name") or name
    acl_id = f"{_hex(name, 8)}-{_hex(name, 4)}-{_hex(name, 4)}-{_hex(name, 4)}-{_hex(name, 12)}"
    return acl_id, {"arn": _arn("wafv2", f"regional/webacl/{acl}/{acl_id}"), "capacity": 700}


def _trail(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    trail = inputs.get("name") or name
    arn = _arn("cloudtrail", f"trail/{trail}")
    return arn, {"arn": arn}


def _prefixed(prefix: str) -> Any:
    def make(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
        return f"{prefix}-{_hex(name, 17)}", {}

    return make


def _subnet(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    # AWS computes the AZ a subnet placed by ID is in (and the ID of one placed by name).
    zone_id = inputs.get("availabilityZoneId")
    zone = inputs.get("availabilityZone")
    if zone_id:
        zone = zone_name(zone_id)
    elif zone:
        zone_id = {v: k for k, v in ZONE_NAMES.items()}.get(zone)
    return f"subnet-{_hex(name, 17)}", {"availabilityZone": zone, "availabilityZoneId": zone_id}


def _vpc(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    vpc_id = f"vpc-{_hex(name, 17)}"
    return vpc_id, {
        "arn": _arn("ec2", f"vpc/{vpc_id}"),
        "defaultSecurityGroupId": f"sg-{_hex(name + 'default', 17)}",
        "defaultRouteTableId": f"rtb-{_hex(name + 'default', 17)}",
        "defaultNetworkAclId": f"acl-{_hex(name + 'default', 17)}",
        "mainRouteTableId": f"rtb-{_hex(name + 'main', 17)}",
    }


def _security_group(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    sg_id = f"sg-{_hex(name, 17)}"
    return sg_id, {"arn": _arn("ec2", f"security-group/{sg_id}")}


def _vpc_endpoint(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    ep_id = f"vpce-{_hex(name, 17)}"
    return ep_id, {
        "arn": _arn("ec2", f"vpc-endpoint/{ep_id}"),
        "prefixListId": "pl-63a5400a",
        "dnsEntries": [
            {"dnsName": f"{ep_id}.{REGION}.vpce.amazonaws.com", "hostedZoneId": "Z7HUB22UULQXV"}
        ],
    }


def _dashboard(name: str, inputs: dict[str, Any], rid: str) -> tuple[str, dict[str, Any]]:
    board = inputs.get("dashboardName") or name
    return board, {"dashboardArn": f"arn:aws:cloudwatch::{ACCOUNT_ID}:dashboard/{board}"}


_STATE: dict[str, Any] = {
    "aws:kms/key:Key": _kms_key,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:lb/loadBalancer:LoadBalancer": _lb,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:rds/cluster:Cluster": _rds_cluster,
    "aws:rds/clusterInstance:ClusterInstance": _rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:elasticache/user:User": _elasticache_user,
    "aws:elasticache/userGroup:UserGroup": _elasticache_user_group,
    "aws:ecr/repository:Repository": _ecr_repository,
    "docker-build:index:Image": _docker_image,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomId:RandomId": _random_id,
    "tls:index/privateKey:PrivateKey": _tls_key,
    "tls:index/selfSignedCert:SelfSignedCert": _tls_cert,
    "aws:acm/certificate:Certificate": _acm_certificate,
    "aws:iam/role:Role": _iam_role,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:ecs/cluster:Cluster": _ecs_cluster,
    "aws:ecs/service:Service": _ecs_service,
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:cloudtrail/trail:Trail": _trail,
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/subnet:Subnet": _subnet,
    "aws:ec2/routeTable:RouteTable": _prefixed("rtb"),
    "aws:ec2/internetGateway:InternetGateway": _prefixed("igw"),
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:ec2/flowLog:FlowLog": _prefixed("fl"),
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
}
