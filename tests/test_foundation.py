"""The layout and the settings: platform/ is a source root, not a package; settings fail loudly."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(code, **env):
    unset = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL")
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    full_env.update(env)
    return subprocess.run([PY, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60)


def test_platform_folder_is_not_a_package_and_stdlib_platform_still_works():
    assert not (ROOT / "platform" / "__init__.py").exists()
    result = run("import platform; print(platform.system())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Linux"


def test_the_app_sees_the_stdlib_platform_module():
    code = (
        "import sys, os; sys.path.insert(0, 'platform'); os.environ['DJANGO_SETTINGS_MODULE']='berth.settings';"
        "import django; django.setup(); import platform, uuid, celery, docker;"
        "print(platform.system(), platform.__file__.endswith('platform.py'))"
    )
    result = run(code, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Linux", "True"]


def test_manage_py_check_passes():
    result = subprocess.run(
        [PY, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "DEBUG": "1"}
    )
    assert result.returncode == 0, result.stderr


SETTINGS = (
    "import sys; sys.path.insert(0, 'platform'); import berth.settings as s; print(s.DATABASES['default']['ENGINE'])"
)


def test_debug_off_refuses_the_development_secret_key(tmp_path):
    result = run(SETTINGS, DEBUG="0", ALLOWED_HOSTS="example.org", BERTH_DATA_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_off_refuses_empty_allowed_hosts():
    result = run(SETTINGS, DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_after_the_first_command_manage_py_needs_no_variables(tmp_path):
    """scripts/up leaves the install's key in var/secret_key: any command then runs as it is."""
    (tmp_path / "secret_key").write_text("s" * 60)
    code = SETTINGS + "; print(s.SECRET_KEY == 's' * 60, 'localhost' in s.ALLOWED_HOSTS)"
    result = run(code, BERTH_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "True"]


def test_debug_off_starts_with_a_real_key_and_hosts_and_reads_secret_files(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("k" * 50)
    result = run(SETTINGS, DEBUG="0", SECRET_KEY_FILE=str(key_file), ALLOWED_HOSTS="example.org")
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout


def test_database_url_selects_postgresql():
    result = run(SETTINGS, DEBUG="1", DATABASE_URL="postgres://u:p@db.example:5432/berth")
    assert result.returncode == 0, result.stderr
    assert "postgresql" in result.stdout


def test_a_bad_boolean_is_an_error_not_a_guess():
    result = run(SETTINGS, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_the_warm_pool_names_sandboxes_and_clusters_and_refuses_a_bad_entry():
    code = SETTINGS + "; print(sorted(s.SANDBOX_WARM_POOL.items()))"
    pool = "docker/berth/docker:latest=2,kubernetes/berth/kubernetes:latest*3=1"
    result = run(code, DEBUG="1", BERTH_WARM_POOL=pool)
    assert result.returncode == 0, result.stderr
    assert "('docker', 'berth/docker:latest', 1), 2)" in result.stdout
    assert "('kubernetes', 'berth/kubernetes:latest', 3), 1)" in result.stdout
    result = run(code, DEBUG="1", BERTH_WARM_POOL="kubernetes/berth/kubernetes:latest*0=1")
    assert result.returncode != 0 and "profile/image*nodes=count" in result.stderr
