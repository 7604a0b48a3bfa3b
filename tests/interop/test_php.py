"""PHP's gearman extension (pecl-gearman over libgearman) against gear serve.

pecl-gearman's own tests (gearman_worker_014.phpt, 016) and scripts in the
wild match job handles against ``^H:<hostname>:\\d+$``, C gearmand's format;
this runs the same check with the real extension.  Scripts are inline
(``php -r``) and take the port as an argument.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import require_peer, require_program
from tests.interop.conftest import Peer

pytestmark = pytest.mark.peer

#: two background submits, then each handle and whether it matches pecl's regex
HANDLES = r"""
$client = new GearmanClient();
$client->addServer('127.0.0.1', (int)$argv[1]);
foreach (['a', 'b'] as $data) {
    $handle = $client->doBackground('php-handles', $data);
    $ok = preg_match('/^H:' . gethostname() . ':\d+$/', $handle) === 1;
    print $handle . ' ' . ($ok ? 'Success' : 'Failure') . PHP_EOL;
}
"""


@pytest.fixture(scope="module")
def php() -> str:
    """php-cli with the gearman extension loaded."""
    php = require_program("php", "php-cli")
    probe = subprocess.run(
        [php, "-r", "exit(extension_loaded('gearman') ? 0 : 1);"], capture_output=True, check=False
    )
    require_peer("PHP gearman extension", probe.returncode == 0, "apt-get install php-gearman")
    return php


def test_handles_match_pecl_gearmans_regex(php: str, module_gear: Peer) -> None:
    result = subprocess.run(
        [php, "-r", HANDLES, "--", str(module_gear.port)],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert [line.split(" ")[1] for line in lines] == ["Success", "Success"], lines
    first, second = (int(line.split(" ")[0].rsplit(":", 1)[1]) for line in lines)
    assert second == first + 1
