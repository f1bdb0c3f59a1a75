"""Done when: a customer creates a PHP site and a database on the panel's pages, uploads a small
PHP app that connects with the credentials the page showed, and it works through nginx (real
worker, nginx, per-site php-fpm pool and MariaDB)."""

from __future__ import annotations

import html
import os
import pwd
import re
from pathlib import Path

import pytest

from panel.databases.models import Database
from panel.jobs.models import Job
from panel.sites.models import Site

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="per-site PHP users need root")

APP = """<?php
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$db = new mysqli('{host}', '{user}', '{password}', '{name}', {port});
$db->query('CREATE TABLE IF NOT EXISTS visits (id INT AUTO_INCREMENT PRIMARY KEY, who TEXT)');
$stmt = $db->prepare('INSERT INTO visits (who) VALUES (?)');
$who = 'pelanggan';
$stmt->bind_param('s', $who);
$stmt->execute();
$row = $db->query('SELECT COUNT(*) AS n, MAX(who) AS who FROM visits')->fetch_assoc();
$name = $db->query('SELECT DATABASE()')->fetch_row()[0];
echo 'visits=', $row['n'], ' who=', $row['who'], ' db=', $name, "\\n";
"""


def _field(page: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', page)
    assert match, testid
    return html.unescape(match.group(1))


def test_a_php_app_connects_with_the_shown_credentials_through_nginx(
    mariadb, worker, nginx, owner_client, owner
):
    response = owner_client.post(
        "/sites/new/", {"domain": "warung.databases.example", "runtime": "php"}
    )
    assert response.status_code == 302
    site = Site.objects.get(domain="warung.databases.example")
    job = worker.wait_for_job(Job.objects.get(site_id=site.pk, type="site.provision"))
    assert job.status == "success", job.error_message

    page = owner_client.post(f"/sites/{site.pk}/databases/", {"name": "warung"})
    assert page.status_code == 200
    text = page.content.decode()
    password = _field(text, "database-password-value")
    database = Database.objects.get(site=site)
    job = worker.wait_for_job(Job.objects.get(type="db.create"))
    assert job.status == "success", job.error_message
    # The connection details exactly as the card shows them.
    snippet = html.unescape(
        re.search(r'data-testid="database-snippet"><code>(.*?)</code>', text, re.S).group(1)
    )
    values = dict(
        line.split("=", 1) for line in snippet.splitlines() if re.match(r"^DB_[A-Z]+=", line)
    )
    assert values["DB_DATABASE"] == database.name and values["DB_PASSWORD"] == password

    # The upload, as SFTP would leave it: a file owned by the site user in public/.
    app = Path(site.root_path) / "app.php"
    app.write_text(
        APP.format(
            host=values["DB_HOST"],
            port=int(values["DB_PORT"]),
            user=values["DB_USERNAME"],
            password=password,
            name=values["DB_DATABASE"],
        )
    )
    # public/ is setgid: a file put there (over SFTP too) takes nginx's group.
    entry = pwd.getpwnam(site.system_user)
    os.chown(app, entry.pw_uid, Path(site.root_path).stat().st_gid)
    app.chmod(0o640)

    # Every request writes a row and reads the count back from the customer's database.
    body = nginx.wait_for(site.domain, "/app.php", text="visits=").body
    assert f"who=pelanggan db={database.name}" in body, body
    visits = int(re.search(r"visits=(\d+)", body).group(1))
    assert visits >= 1
    assert f"visits={visits + 1} " in nginx.get(site.domain, "/app.php").body
