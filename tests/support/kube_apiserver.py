"""A real Kubernetes API server on loopback: etcd and kube-apiserver (both built from
upstream by scripts/build-etcd and scripts/build-kube-apiserver) on free ports, with
certificates made here, and a client that applies objects the way `kubectl apply
--server-side` does, returning the API server's warnings. No controllers run: objects
are admitted and stored, nothing is scheduled."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import ssl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.processes import free_port, running, wait_until

START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
LOOPBACK = "127.0.0.1"


# --- certificates ------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
    if not ca:
        usage = x509.oid.ExtendedKeyUsageOID
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([usage.SERVER_AUTH if server else usage.CLIENT_AUTH]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public_key: Path


def make_pki(directory: Path) -> Pki:
    """A CA, the API server's serving certificate (127.0.0.1, localhost), an admin client
    certificate in system:masters, and the service-account token signing key."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, server_key, admin_key, sa_key = _key(), _key(), _key(), _key()
    ca_name = _name("otel-service-template test CA")
    files = {
        "ca.crt": _certificate(ca_name, ca_key, ca_name, ca_key, ca=True),
        "server.crt": _certificate(
            _name("kube-apiserver"), server_key, ca_name, ca_key, server=True
        ),
        "admin.crt": _certificate(_name("admin", "system:masters"), admin_key, ca_name, ca_key),
    }
    for file_name, certificate in files.items():
        (directory / file_name).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    for file_name, key in {
        "server.key": server_key,
        "admin.key": admin_key,
        "sa.key": sa_key,
    }.items():
        (directory / file_name).write_bytes(_pem_key(key))
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Pki(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
        service_account_public_key=directory / "sa.pub",
    )


# --- the client ---------------------------------------------------------------------------


class ApiError(Exception):
    """The API server refused a request: its status and message."""


@dataclass(frozen=True)
class Resource:
    plural: str
    namespaced: bool


def object_id(obj: dict[str, Any]) -> str:
    namespace = obj["metadata"].get("namespace")
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    return f"{namespace}/{name}" if namespace else name


class KubeApi:
    """Server-side apply and reads over HTTPS as the admin (system:masters)."""

    def __init__(self, base_url: str, pki: Pki) -> None:
        self.base_url = base_url
        tls = ssl.create_default_context(cafile=pki.ca)
        tls.load_cert_chain(pki.admin_cert, pki.admin_key)
        self._client = httpx.Client(
            base_url=base_url,
            verify=tls,
            timeout=REQUEST_TIMEOUT,
            # Loopback only: no proxy from the environment.
            trust_env=False,
        )
        self._resources: dict[tuple[str, str], Resource] = {}

    def close(self) -> None:
        self._client.close()

    def get(self, path: str) -> dict[str, Any]:
        response = self._client.get(path)
        if response.status_code != 200:
            raise ApiError(f"GET {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def ready(self) -> bool:
        try:
            return self._client.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def resource(self, api_version: str, kind: str) -> Resource:
        """The REST resource of ``kind``, from the API server's discovery (not cached while
        unknown: a CRD's kind appears once it is established)."""
        if (api_version, kind) not in self._resources:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            response = self._client.get(path)
            if response.status_code == 404:
                raise ApiError(f"{kind}: the API server serves no {api_version}")
            response.raise_for_status()
            for entry in response.json()["resources"]:
                if "/" not in entry["name"]:
                    self._resources[(api_version, entry["kind"])] = Resource(
                        entry["name"], entry["namespaced"]
                    )
        if (api_version, kind) not in self._resources:
            raise ApiError(f"{kind}: the API server serves no such kind in {api_version}")
        return self._resources[(api_version, kind)]

    def path(self, obj: dict[str, Any]) -> str:
        api_version = obj["apiVersion"]
        resource = self.resource(api_version, obj["kind"])
        prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if resource.namespaced:
            namespace = obj["metadata"].get("namespace")
            if not namespace:
                raise ApiError(f"{object_id(obj)}: namespaced, but has no namespace")
            prefix += f"/namespaces/{namespace}"
        return f"{prefix}/{resource.plural}/{obj['metadata']['name']}"

    def apply(self, obj: dict[str, Any], *, field_manager: str, dry_run: bool) -> list[str]:
        """Server-side apply ``obj`` (unknown fields are errors, conflicts with another
        field manager too); returns the API server's warnings, raises ApiError on refusal."""
        params = {"fieldManager": field_manager, "fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        response = self._client.patch(
            self.path(obj),
            params=params,
            content=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return self._answer(response, f"apply {object_id(obj)}")

    def create(self, obj: dict[str, Any], *, dry_run: bool) -> list[str]:
        """POST ``obj`` (a new object, e.g. a Pod); returns the warnings."""
        path = self.path(obj).rsplit("/", 1)[0]
        params = {"fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        response = self._client.post(path, params=params, json=obj)
        return self._answer(response, f"create {object_id(obj)}")

    @staticmethod
    def _answer(response: httpx.Response, what: str) -> list[str]:
        if response.status_code >= 300:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ApiError(f"{what}: {response.status_code} {message}")
        return [_warning_text(value) for value in response.headers.get_list("warning")]


def _warning_text(header: str) -> str:
    """The message of a `Warning: 299 - "message"` header (a quoted string, RFC 7234)."""
    code, _, rest = header.partition(" ")
    _agent, _, quoted = rest.partition(" ")
    if code != "299" or not (quoted.startswith('"') and quoted.endswith('"')):
        return header
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


# --- the servers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path


@contextmanager
def kube_apiserver(binaries: Binaries, directory: Path) -> Iterator[KubeApi]:
    """etcd and kube-apiserver (PodSecurity admission on, as by default) on free loopback
    ports, stopped on exit whatever happens; yields the admin client once /readyz is ok."""
    pki = make_pki(directory / "pki")
    etcd_client, etcd_peer = free_port(), free_port()
    etcd_url = f"http://{LOOPBACK}:{etcd_client}"
    peer_url = f"http://{LOOPBACK}:{etcd_peer}"
    secure_port = free_port()
    with ExitStack() as stack:
        etcd = stack.enter_context(
            running(
                [
                    str(binaries.etcd),
                    "--name=admission",
                    f"--data-dir={directory / 'etcd'}",
                    f"--listen-client-urls={etcd_url}",
                    f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls={peer_url}",
                    f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=admission={peer_url}",
                    # Throwaway data: no fsync keeps etcd fast on a shared disk.
                    "--unsafe-no-fsync",
                ],
                cwd=directory,
                env={},
                log_path=directory / "etcd.log",
            )
        )
        wait_until(
            lambda: _etcd_healthy(etcd_url) or etcd.process.poll() is not None,
            START_TIMEOUT,
            "etcd /health",
        )
        assert etcd.process.poll() is None, f"etcd exited:\n{etcd.log()[-3000:]}"
        apiserver = stack.enter_context(
            running(
                [
                    str(binaries.kube_apiserver),
                    f"--etcd-servers={etcd_url}",
                    f"--bind-address={LOOPBACK}",
                    f"--advertise-address={LOOPBACK}",
                    # The `kubernetes` Service's endpoints may not be loopback, and nothing
                    # here reaches the API server through it.
                    "--endpoint-reconciler-type=none",
                    f"--secure-port={secure_port}",
                    f"--tls-cert-file={pki.server_cert}",
                    f"--tls-private-key-file={pki.server_key}",
                    f"--client-ca-file={pki.ca}",
                    f"--service-account-key-file={pki.service_account_public_key}",
                    f"--service-account-signing-key-file={pki.service_account_key}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--service-cluster-ip-range=10.96.0.0/16",
                    "--authorization-mode=RBAC",
                    "--anonymous-auth=false",
                    # On by default; named so that turning it off is a visible change.
                    "--enable-admission-plugins=PodSecurity",
                    "--profiling=false",
                ],
                cwd=directory,
                env={},
                log_path=directory / "kube-apiserver.log",
            )
        )
        api = KubeApi(f"https://{LOOPBACK}:{secure_port}", pki)
        stack.callback(api.close)
        try:
            wait_until(
                lambda: api.ready() or apiserver.process.poll() is not None,
                START_TIMEOUT,
                "kube-apiserver /readyz",
            )
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{apiserver.log()[-4000:]}") from None
        assert apiserver.process.poll() is None, (
            f"kube-apiserver exited:\n{apiserver.log()[-4000:]}"
        )
        yield api
        apiserver.stop()
        etcd.stop()


def _etcd_healthy(url: str) -> bool:
    try:
        response = httpx.get(f"{url}/health", timeout=2, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("health") == "true"
