"""Every property key secstash writes or allows is one the installed MultiLangDaemon really has: the daemon
ignores unknown keys with one log line, so this is the only place a misspelling would surface."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from consumer import settings
from consumer.embedded import paths
from consumer.kcl import properties
from consumer.runtime import LOGBACK

pytestmark = pytest.mark.integration


def test_known_keys_are_setters_of_the_installed_daemon() -> None:
    javap = shutil.which("javap") or str(paths.java_home(17) / "bin" / "javap")
    in_jar = properties.known_keys_in_jar(str(paths.kcl_jars_dir()), javap)
    assert "streamName" in in_jar and "maxRecords" in in_jar  # the introspection itself works
    nested = {key for key in properties.KNOWN_KEYS if "." in key}  # client builder properties
    missing = sorted(properties.KNOWN_KEYS - nested - properties.DAEMON_KEYS - in_jar)
    assert not missing, f"not settable on the installed MultiLangDaemon: {missing}"


# Loads a properties file through the installed daemon's own configurator (no network call) and prints, for
# the Kinesis, DynamoDB and CloudWatch clients the KCL builds, their region and the credentials providers they
# sign with; for the assume-role provider, its AssumeRole request and its STS client's region. In the
# configuration package because resolvedConfiguration() is package-private.
_PROBE = r"""
package software.amazon.kinesis.multilang.config;

import java.io.FileInputStream;
import java.lang.reflect.Field;
import java.util.List;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProviderChain;
import software.amazon.awssdk.awscore.AwsClient;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;
import software.amazon.awssdk.identity.spi.IdentityProvider;
import software.amazon.awssdk.services.sts.StsClientBuilder;
import software.amazon.awssdk.services.sts.model.AssumeRoleRequest;

public class CredentialsProbe {
    public static void main(String[] args) throws Exception {
        MultiLangDaemonConfiguration config;
        try (FileInputStream in = new FileInputStream(args[0])) {
            config = new KinesisClientLibConfigurator().getConfiguration(in);
        }
        MultiLangDaemonConfiguration.ResolvedConfiguration resolved =
            config.resolvedConfiguration(() -> { throw new UnsupportedOperationException(); });
        show("kinesis", resolved.retrievalConfig.kinesisClient());
        if (args.length > 1) {  // ask the Kinesis client's provider for credentials: through STS for a role
            AwsCredentialsIdentity identity = (AwsCredentialsIdentity) ((IdentityProvider<?>) resolved.retrievalConfig
                .kinesisClient().serviceClientConfiguration().credentialsProvider()).resolveIdentity().join();
            System.out.println("signs " + identity.accessKeyId());
        }
        show("dynamodb", resolved.leaseManagementConfig.dynamoDBClient());
        show("cloudwatch", resolved.metricsConfig.cloudWatchClient());
        System.out.println("position " + resolved.retrievalConfig.streamTracker().streamConfigList().get(0)
            .initialPositionInStreamExtended().getInitialPositionInStream());
    }

    static void show(String name, AwsClient client) throws Exception {
        StringBuilder out = new StringBuilder(name + " " + client.serviceClientConfiguration().region() + " ");
        describe(client.serviceClientConfiguration().credentialsProvider(), out);
        System.out.println(out);
    }

    static void describe(Object provider, StringBuilder out) throws Exception {
        if (provider instanceof AwsCredentialsProviderChain) {
            Field providers = AwsCredentialsProviderChain.class.getDeclaredField("credentialsProviders");
            providers.setAccessible(true);
            for (Object each : (List<?>) providers.get(provider)) describe(each, out);
            return;
        }
        out.append(provider.getClass().getSimpleName());
        if (provider.getClass().getSimpleName().equals("KclStsAssumeRoleCredentialsProvider")) {
            Field request = provider.getClass().getDeclaredField("assumeRoleRequestBuilder");
            request.setAccessible(true);
            AssumeRoleRequest built = ((AssumeRoleRequest.Builder) request.get(provider)).build();
            Field sts = provider.getClass().getDeclaredField("stsClientBuilder");
            sts.setAccessible(true);
            out.append(" ").append(built.roleArn()).append(" ").append(built.roleSessionName()).append(" ")
               .append(built.externalId()).append(" sts:")
               .append(((StsClientBuilder) sts.get(provider)).build().serviceClientConfiguration().region());
        }
        out.append(";");
    }
}
"""


def _probe(tmp_path: Path, loaded: settings.Settings,
           *extra: str) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    """Compile the probe, write the stream's properties as `secstash run` does, run the probe
    on them with the process's own credentials in the environment and no AWS_REGION."""
    jdk = paths.java_home(17) / "bin"
    jars = str(paths.kcl_jars_dir())
    source = tmp_path / "software/amazon/kinesis/multilang/config/CredentialsProbe.java"
    source.parent.mkdir(parents=True)
    source.write_text(_PROBE)
    subprocess.run([str(jdk / "javac"), "-nowarn", "-cp", f"{jars}/*", "-d", str(tmp_path / "classes"), str(source)],
                   check=True, capture_output=True, timeout=300)
    path = properties.write(tmp_path / "org-trail.properties",
                            properties.build(loaded, loaded.streams[0], python="/usr/bin/python3", worker_id="pod-a"))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ACCESS_KEY_ID": "AKIAOWNACCOUNT", "AWS_SECRET_ACCESS_KEY": "own-secret"}  # no AWS_REGION
    probe = subprocess.run([str(jdk / "java"), f"-Dlogback.configurationFile={LOGBACK}",
                            "-DSECSTASH_KCL_LOG_LEVEL=INFO", "-cp", f"{tmp_path / 'classes'}:{jars}/*",
                            "software.amazon.kinesis.multilang.config.CredentialsProbe", str(path), *extra],
                           env=env, check=False, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = dict(line.split(" ", 1) for line in probe.stdout.splitlines()
                 if line.startswith(("kinesis ", "dynamodb ", "cloudwatch ", "position ", "signs ")))
    return found, probe


CROSS_ACCOUNT = {"arn": "arn:aws:kinesis:eu-west-1:444455556666:stream/org-trail",
                 "role_arn": "arn:aws:iam::444455556666:role/secstash-stream-reader", "external_id": "Ext-1d-7Q9"}
REST = {"archive": {"bucket": "archive-bucket"}, "search": {"hosts": ["https://es:9200"]}}


def test_the_daemon_reads_a_cross_account_stream_with_the_role_and_keeps_leases_and_metrics_its_own(
        tmp_path: Path) -> None:
    """What the installed daemon makes of the properties secstash writes for a stream in another account: the
    Kinesis client signs with the role (its external id and session name, STS in the stream's region even
    with no AWS_REGION in the environment), the lease tables' and CloudWatch's with the process's own
    credentials, and a new lease table starts at TRIM_HORIZON."""
    clients, probe = _probe(tmp_path, settings.Settings(streams=[CROSS_ACCOUNT], kcl={"metrics_level": "SUMMARY"},
                                                        **REST))
    assert clients["kinesis"] == ("eu-west-1 KclStsAssumeRoleCredentialsProvider "
                                  "arn:aws:iam::444455556666:role/secstash-stream-reader "
                                  "secstash-kinesis-org-trail@pod-a Ext-1d-7Q9 sts:eu-west-1;")
    assert clients["dynamodb"] == "eu-west-1 DefaultCredentialsProvider;"
    assert clients["cloudwatch"] == "eu-west-1 DefaultCredentialsProvider;"
    assert clients["position"] == "TRIM_HORIZON"
    # The daemon's own log (logback.xml, at INFO) does not echo the properties, the external id among them;
    # and logback took the file (it prints its status lines on stdout only when the file is broken).
    assert "|-ERROR" not in probe.stdout and "|-WARN" not in probe.stdout, probe.stdout[-3000:]
    assert "AwsCredentialsProviderPropertyValueDecoder" in probe.stderr  # its INFO lines do reach the log
    assert "Ext-1d-7Q9" not in probe.stderr


def test_the_daemons_role_credentials_come_from_the_configured_sts_endpoint(tmp_path: Path, moto_server) -> None:
    """aws.sts_endpoint reaches the daemon's STS client: the Kinesis client gets the role's temporary
    credentials from it (moto's), not the process's own."""
    clients, _ = _probe(tmp_path, settings.Settings(streams=[CROSS_ACCOUNT], aws={"sts_endpoint": moto_server.endpoint},
                                                    **REST), "resolve")
    assert clients["signs"].startswith("ASIA")  # an AssumeRole answer, not AKIAOWNACCOUNT
    assert "sts:eu-west-1" in clients["kinesis"]
