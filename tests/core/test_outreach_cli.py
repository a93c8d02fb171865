"""`python -m core outreach ...` run in-process (and once as a real process, for Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from core import delivery
from core.__main__ import main
from core.config import PROJECT_ROOT, get_settings
from core.users import ensure_demo_users
from db.engine import get_engine
from db.models import Customer, Outreach, utcnow
from tests.factories import make_customer, make_order


def _customers(url: str) -> None:
    with Session(get_engine(url)) as s:
        ensure_demo_users(session=s)  # manager, support, exec, admin
        for ext, opt in (("C-100", True), ("C-200", False)):
            c = make_customer(s, external_id=ext, name=f"Person {ext}", email_opt_in=opt)
            make_order(s, c, utcnow() - timedelta(days=100))
        s.commit()


def test_trigger_prints_the_outcome(app_env, capsys):
    _customers(app_env)
    assert main(["outreach", "trigger", "--customer", "C-100", "--template", "win_back", "--by", "manager"]) == 0
    assert "C-100, win_back: queued (outreach 1, outbox, code HH-" in capsys.readouterr().out
    assert main(["outreach", "trigger", "--customer", "C-100", "--template", "win_back", "--by", "manager"]) == 0
    assert "already recorded (outreach 1, queued)" in capsys.readouterr().out
    assert main(["outreach", "trigger", "--customer", "C-100", "--template", "vip_thanks", "--by", "support"]) == 0
    assert "suppressed: frequency cap: last contacted on " in capsys.readouterr().out
    assert main(["outreach", "trigger", "--customer", "C-200", "--template", "win_back", "--by", "manager"]) == 0
    assert "suppressed: no email consent" in capsys.readouterr().out
    assert main(["outreach", "trigger", "--customer", "nobody", "--template", "win_back", "--by", "manager"]) == 1
    assert "error: no customer with id 'nobody'" in capsys.readouterr().err


def test_by_must_name_a_staff_user_who_may_do_it(app_env, capsys):
    _customers(app_env)
    assert main(["outreach", "trigger", "--customer", "C-100", "--template", "win_back", "--by", "nobdy"]) == 1
    err = capsys.readouterr().err
    assert "--by 'nobdy': no active staff user has that username" in err and "users add" in err
    assert main(["outreach", "unsubscribe", "--customer", "C-100", "--by", "exec"]) == 1
    assert "exec may not record an unsubscribe" in capsys.readouterr().err
    assert main(["outreach", "consent", "--customer", "C-100", "--withdraw", "--by", "exec"]) == 1
    assert "exec may not change a customer's consent" in capsys.readouterr().err
    with Session(get_engine(app_env)) as s:  # nothing was queued or changed
        assert s.exec(select(Outreach)).all() == []
        assert s.exec(select(Customer).where(Customer.external_id == "C-100")).one().email_opt_in is True


def test_deliver_once_writes_the_outbox(app_env, capsys):
    _customers(app_env)
    main(["outreach", "trigger", "--customer", "C-100", "--template", "win_back", "--by", "manager"])
    assert main(["outreach", "deliver", "--once"]) == 0
    assert "sent 1, retrying 0, failed 0" in capsys.readouterr().out
    files = list(Path(get_settings().outbox_dir).glob("*.eml"))
    assert len(files) == 1 and "Person" in files[0].read_text()


def test_unsubscribe_and_requeue_commands(app_env, capsys):
    _customers(app_env)
    assert main(["outreach", "unsubscribe", "--customer", "C-100", "--by", "support"]) == 0
    with Session(get_engine(app_env)) as s:
        assert s.exec(select(Customer).where(Customer.external_id == "C-100")).one().email_opt_in is False
    assert main(["outreach", "requeue", "--outreach", "42", "--by", "admin"]) == 1


def test_worker_keeps_polling_until_stopped(app_env):
    _customers(app_env)
    stop = threading.Event()
    engine = get_engine(app_env)
    worker = threading.Thread(target=delivery.deliver, kwargs={"engine": engine, "once": False,
                                                                "poll_seconds": 0.1, "stop": stop})
    worker.start()
    try:
        main(["outreach", "trigger", "--customer", "C-100", "--template", "win_back", "--by", "manager"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with Session(engine) as s:
                if s.exec(select(Outreach.status)).one() == "sent":
                    break
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()
    with Session(engine) as s:
        assert s.exec(select(Outreach.status)).one() == "sent"


def test_ctrl_c_stops_the_worker_cleanly(app_env):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "core", "outreach", "deliver", "--poll-seconds", "0.2"],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert "polling" in line
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped; this run: sent 0" in out
