"""Connection settings and ``connect``: precedence, TLS rules, and one-line failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from engine.client._connect import (
    SettingsError,
    TemporalSettings,
    TemporalUnreachable,
    connect,
)
from engine.client._converter import DATA_CONVERTER


def target(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def test_defaults_then_environment_then_flags() -> None:
    """Defaults suit a local dev server; variables override them and flags override both."""
    assert TemporalSettings.resolve({}, {}) == TemporalSettings(
        address="localhost:7233", namespace="default", task_queue="playbooks"
    )
    env = {
        "PLAYBOOK_TEMPORAL_ADDRESS": "temporal:7233",
        "PLAYBOOK_TEMPORAL_NAMESPACE": "cs",
        "PLAYBOOK_TEMPORAL_TASK_QUEUE": "",  # empty counts as unset
    }
    settings = TemporalSettings.resolve({"namespace": "cs-staging", "task_queue": None}, env)
    assert (settings.address, settings.namespace, settings.task_queue) == (
        "temporal:7233",
        "cs-staging",
        "playbooks",
    )


def test_api_key_implies_tls_unless_turned_off() -> None:
    """Temporal Cloud takes API keys only over TLS; an explicit --no-tls still wins."""
    cloud = TemporalSettings.resolve({}, {"PLAYBOOK_TEMPORAL_API_KEY": "secret-key"})
    assert cloud.use_tls and cloud.tls_config() is True
    assert "secret-key" not in repr(cloud)
    assert not TemporalSettings.resolve({"tls": False}, {"PLAYBOOK_TEMPORAL_API_KEY": "k"}).use_tls
    assert not TemporalSettings.resolve({}, {}).use_tls
    assert TemporalSettings.resolve({}, {"PLAYBOOK_TEMPORAL_TLS": "true"}).use_tls


def test_client_certificate_files_are_read(tmp_path: Path) -> None:
    """mTLS: the certificate and key go into the TLS config as bytes."""
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    settings = TemporalSettings.resolve(
        {"tls_cert": tmp_path / "client.pem", "tls_key": tmp_path / "client.key"}, {}
    )
    config = settings.tls_config()
    assert isinstance(config, TLSConfig)
    assert (config.client_cert, config.client_private_key, config.server_root_ca_cert) == (
        b"CERT",
        b"KEY",
        None,
    )


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        (
            {},
            {"PLAYBOOK_TEMPORAL_TLS": "maybe"},
            "PLAYBOOK_TEMPORAL_TLS: Input should be a valid boolean",
        ),
        ({"address": ""}, {}, "--address: String should have at least 1 character"),
        ({"tls_cert": Path("c.pem")}, {}, "a client certificate needs its key"),
        (
            {"tls": False, "tls_ca": Path("ca.pem")},
            {},
            "--tls-cert/--tls-ca need TLS, but TLS is turned off",
        ),
    ],
)
def test_bad_settings_name_their_source(
    flags: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        TemporalSettings.resolve(flags, environ)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_certificate_file_is_named(tmp_path: Path) -> None:
    settings = TemporalSettings.resolve(
        {"tls_cert": tmp_path / "nope.pem", "tls_key": tmp_path / "nope.key"}, {}
    )
    with pytest.raises(SettingsError, match=r"nope\.pem: no such file"):
        settings.tls_config()


async def test_connect_uses_the_pydantic_converter(dev_env: WorkflowEnvironment) -> None:
    client = await connect(TemporalSettings(address=target(dev_env)))
    assert client.data_converter is DATA_CONVERTER
    assert client.namespace == "default"


async def test_connect_failures_are_one_line(dev_env: WorkflowEnvironment) -> None:
    """Nothing listening, a namespace that does not exist, TLS against a plaintext server."""
    cases = [
        (
            TemporalSettings(address="127.0.0.1:1"),
            "Temporal is not reachable at 127.0.0.1:1 (namespace default): Connection refused",
        ),
        (
            TemporalSettings(address=target(dev_env), namespace="no-such-namespace"),
            f"namespace no-such-namespace does not exist at {target(dev_env)}",
        ),
        (
            TemporalSettings(address=target(dev_env), tls=True),
            "TLS handshake failed",
        ),
    ]
    for settings, message in cases:
        with pytest.raises(TemporalUnreachable) as caught:
            await connect(settings)
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)
