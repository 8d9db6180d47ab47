"""Start and stop a real SAML 2.0 IdP: SimpleSAMLphp from Debian (package simplesamlphp), served by
``php -S`` on loopback with a generated configuration in a temp dir. Users (exampleauth:UserPass):
``auditor``/``auditor-pw`` (role security_auditor), ``biller``/``biller-pw`` (billing_specialist).

Missing: skipped locally, failed under ``CI=true``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from gatewayproc import wait_until
from peers.oidc_provider import free_port, missing_peer

from gateway.auth.saml_keys import self_signed

SSP = Path("/usr/share/simplesamlphp")
SSP_CONFIG = Path("/etc/simplesamlphp/config.php")

_CONFIG = """<?php
require '{default}';
$config['baseurlpath'] = '{base}/';
$config['certdir'] = '{dir}/cert/';
$config['metadatadir'] = '{dir}/metadata/';
$config['loggingdir'] = '{dir}/log/';
$config['datadir'] = '{dir}/data/';
$config['tempdir'] = '{dir}/tmp';
$config['logging.handler'] = 'file';
$config['logging.level'] = SimpleSAML\\Logger::WARNING;
$config['secretsalt'] = 'test-salt-{port}';
$config['auth.adminpassword'] = 'test-admin-{port}';
$config['enable.saml20-idp'] = true;
$config['module.enable'] = ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true];
$config['session.cookie.secure'] = false;
// a browser drops SameSite=None cookies without Secure (this test IdP is plain http)
$config['session.cookie.samesite'] = 'Lax';
$config['session.phpsession.savepath'] = '{dir}/sessions';
$config['store.type'] = 'phpsession';
$config['trusted.url.domains'] = ['127.0.0.1:{port}', '127.0.0.1'];
"""

_AUTHSOURCES = """<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'users' => [
        'exampleauth:UserPass',
        'auditor:auditor-pw' => ['uid' => ['auditor'], 'role' => ['security_auditor']],
        'biller:biller-pw' => ['uid' => ['biller'], 'role' => ['billing_specialist', 'unknown-role']],
    ],
];
"""

_IDP_HOSTED = """<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => '{dir}/cert/idp.key',
    'certificate' => '{dir}/cert/idp.crt',
    'auth' => 'users',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'simplesaml.nameidattribute' => 'uid',
    'authproc' => [100 => ['class' => 'saml:AttributeNameID', 'attribute' => 'uid',
        'Format' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent']],
];
"""

_SP_REMOTE = """<?php
$metadata['{entity}'] = [
    'AssertionConsumerService' => '{acs}',
    'SingleLogoutService' => '{sls}',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'certData' => '{cert}',
    'validate.authnrequest' => true,
    'validate.logout' => true,
    'sign.logout' => true,
    'saml20.sign.assertion' => true,
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
];
"""


@dataclass
class SamlIdp:
    """A running SimpleSAMLphp IdP."""

    base: str
    directory: Path

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/saml2/idp/metadata.php"


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "-----" not in line)


@contextmanager
def simplesamlphp(tmp: Path, *, sp_base: str, sp_cert_pem: str) -> Iterator[SamlIdp]:
    """A fresh IdP on a free loopback port that trusts the SP at ``sp_base``."""
    php = shutil.which("php")
    if php is None or not (SSP / "www" / "index.php").is_file() or not SSP_CONFIG.is_file():
        missing_peer("SimpleSAMLphp or php-cli not installed (apt: simplesamlphp php-cli)")
    assert php is not None
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    directory = tmp / "idp"
    for sub in ("config", "cert", "metadata", "log", "data", "tmp", "sessions"):
        (directory / sub).mkdir(parents=True)
    key, cert = self_signed("test IdP")
    (directory / "cert" / "idp.key").write_bytes(key)
    (directory / "cert" / "idp.crt").write_bytes(cert)
    fmt = {"default": SSP_CONFIG, "base": base, "dir": directory, "port": port}
    (directory / "config" / "config.php").write_text(_CONFIG.format(**fmt))
    (directory / "config" / "authsources.php").write_text(_AUTHSOURCES)
    (directory / "metadata" / "saml20-idp-hosted.php").write_text(_IDP_HOSTED.format(**fmt))
    (directory / "metadata" / "saml20-sp-remote.php").write_text(
        _SP_REMOTE.format(
            entity=f"{sp_base}/saml/metadata",
            acs=f"{sp_base}/saml/acs",
            sls=f"{sp_base}/saml/sls",
            cert=_pem_body(sp_cert_pem),
        )
    )
    log = (directory / "php.log").open("wb")
    process = subprocess.Popen(
        [php, "-S", f"127.0.0.1:{port}", "-t", str(SSP / "www")],
        env={"SIMPLESAMLPHP_CONFIG_DIR": str(directory / "config"), "PATH": "/usr/bin:/bin"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError("php -S exited: " + (directory / "php.log").read_text()[-2000:])
            try:
                probe = httpx.get(f"{base}/saml2/idp/metadata.php", timeout=2)
                return probe.status_code == 200 and b"EntityDescriptor" in probe.content
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "SimpleSAMLphp to answer")
        yield SamlIdp(base, directory)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
