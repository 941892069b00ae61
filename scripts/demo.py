"""`make demo`: embedded services, migrations, a demo admin, sample mail, web + worker.

Runs until Ctrl-C. Needs nothing but the project's virtualenv.
"""

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.chdir(ROOT)
sys.path.insert(0, str(ROOT))

env = dict(os.environ)
env.setdefault("DEBUG", "true")
env.setdefault("DJANGO_SETTINGS_MODULE", "enigma_site.settings")
env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
os.environ.update(env)
PORT = env.get("DEMO_PORT", "8000")
PY = sys.executable


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], check=True, env=env)


def main() -> None:
    import django

    print("» Starting embedded PostgreSQL and Redis (if DATABASE_URL/REDIS_URL are not set)…")
    django.setup()
    manage("migrate", "--noinput", "-v", "0")
    manage("collectstatic", "--noinput", "-v", "0")

    from django.contrib.auth import get_user_model

    User = get_user_model()
    from django.conf import settings

    password_file = settings.DATA_DIR / "demo-admin-password"
    if not User.objects.filter(username="admin").exists():
        password = secrets.token_urlsafe(9)
        User.objects.create_superuser("admin", "admin@enigma.local", password)
        password_file.write_text(password)
    password = password_file.read_text().strip() if password_file.exists() else f"(set earlier; see {password_file})"

    manage("import_eml", "demo/mailbox")
    for extra in ("build_knowledge_index",):
        try:
            manage(extra)
        except subprocess.CalledProcessError:
            print(f"(skipped {extra})")

    procs = [
        subprocess.Popen([PY, "manage.py", "rqworker", "default", "nlp", "--worker-class", "rq.SimpleWorker", "--with-scheduler"], env=env),
        subprocess.Popen([PY, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"], env=env),
    ]
    print(
        "\n"
        f"  Enigma demo is running.\n"
        f"  Admin:    http://127.0.0.1:{PORT}/admin/   login: admin   password: {password}\n"
        f"  API:      http://127.0.0.1:{PORT}/api/v1/tickets/   docs: http://127.0.0.1:{PORT}/api/docs/\n"
        f"  Health:   http://127.0.0.1:{PORT}/readyz\n"
        f"  Outgoing mail is printed here (console e-mail backend). Ctrl-C stops; `make stop` stops the embedded services.\n"
    )
    try:
        for proc in procs:
            proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
