"""minigan lab's server, in process on a free port: the API, its checks, and the views' numbers."""
import ast
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import minigan
from minigan import data, mmd
from minigan.gradcheck import numerical_gradient, rel_error
from minigan.lab import session as lab_session
from minigan.lab import settings as lab_settings
from minigan.lab import snapshot as lab_snapshot
from minigan.lab import views
from minigan.lab.server import LabServer


class Client:
    def __init__(self, server):
        self.server = server
        self.host = f"127.0.0.1:{server.server_address[1]}"

    def request(self, path, body=None, headers=None, raw=None):
        """(status, decoded JSON or bytes) of one request; body: a JSON-able object."""
        h = {"X-Minigan-Token": self.server.token, "Content-Type": "application/json",
             "Host": self.host}
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(f"http://{self.host}{path}", data=data, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, payload, ctype = r.status, r.read(), r.headers["Content-Type"]
        except urllib.error.HTTPError as e:
            status, payload, ctype = e.code, e.read(), e.headers["Content-Type"]
        return status, (json.loads(payload) if ctype == "application/json" else payload)

    def state(self, sid):
        status, snap = self.request(f"/api/state?session={sid}")
        assert status == 200
        return snap

    def control(self, sid, action):
        return self.request("/api/control", {"session": sid, "action": action})

    def params(self, sid, **changes):
        return self.request("/api/params", {"session": sid, "params": changes})


@pytest.fixture
def client():
    server = LabServer(port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield Client(server)
    server.shutdown()
    server.close_sessions()
    server.server_close()
    thread.join()


def new_session(client, **changes):
    status, snap = client.request("/api/session", {})
    assert status == 200 and snap["step"] == 0 and snap["playing"] is False
    if changes:
        status, snap = client.params(snap["session"], **changes)
        assert status == 200, snap
    return snap["session"]


def wait_for(predicate, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_step_play_pause_and_settings(client):
    sid = new_session(client, speed=200, views=["samples", "curves"])
    status, snap = client.control(sid, "step")
    assert status == 200 and snap["step"] == 1 and len(snap["curves"]["series"]["loss"]) == 1
    assert client.control(sid, "play")[0] == 200
    assert wait_for(lambda: client.state(sid)["step"] >= 20)
    status, snap = client.control(sid, "pause")
    held = snap["step"]
    time.sleep(0.3)
    assert client.state(sid)["step"] == held and client.state(sid)["playing"] is False
    trainer = client.server.sessions[sid].trainer
    assert trainer.step_count == held == len(trainer.history["loss"])
    # a learning rate changes live: same trainer, same step
    status, snap = client.params(sid, lr=1e-3)
    assert status == 200 and snap["step"] == held and trainer.opts["G"].lr == 1e-3
    assert client.server.sessions[sid].trainer is trainer
    # another method: a new trainer from its defaults
    status, snap = client.params(sid, method="mmdgan", dataset="grid")
    assert status == 200 and snap["step"] == 0 and snap["kind"] == "MMDGAN"
    assert snap["params"]["lr"] is None and snap["batch"] == minigan.MMDGAN.default_batch_size
    assert client.control(sid, "critic")[1]["half_steps"] == {"critic": 1, "generator": 0}
    assert client.control(sid, "generator")[1]["half_steps"] == {"critic": 1, "generator": 1}
    assert client.state(sid)["step"] == 0      # half steps do not count as steps
    status, snap = client.control(sid, "reset")
    assert snap["half_steps"] == {"critic": 0, "generator": 0}


def test_the_page_gets_each_new_view_as_it_comes(client, monkeypatch):
    # /api/state?after=V answers once a snapshot newer than V is out, or after LONG_POLL
    monkeypatch.setattr("minigan.lab.server.LONG_POLL", 0.3)
    sid = new_session(client, views=["samples"])
    shown = client.state(sid)["version"]
    t0 = time.monotonic()
    status, snap = client.request(f"/api/state?session={sid}&after={shown}")   # paused
    assert status == 200 and snap["version"] == shown and time.monotonic() - t0 >= 0.25
    waiting = {}
    asker = threading.Thread(target=lambda: waiting.update(
        answer=client.request(f"/api/state?session={sid}&after={shown}")))
    asker.start()
    time.sleep(0.05)
    client.control(sid, "step")                   # a new snapshot: the waiting request returns
    asker.join()
    status, snap = waiting["answer"]
    assert status == 200 and snap["version"] > shown and snap["step"] == 1
    for bad in ("-1", "x", "1e3", "9" * 13):
        status, answer = client.request(f"/api/state?session={sid}&after={bad}")
        assert status == 400 and "after must be" in answer["error"]


def test_one_connection_serves_many_snapshots_and_a_refusal_closes_it(client):
    import http.client
    sid = new_session(client)
    conn = http.client.HTTPConnection(client.host, timeout=30)
    headers = {"X-Minigan-Token": client.server.token, "Host": client.host}
    versions = []
    for _ in range(3):             # HTTP/1.1: the page's polls share one connection
        conn.request("GET", f"/api/state?session={sid}", headers=headers)
        r = conn.getresponse()
        versions.append(json.loads(r.read())["version"])
        assert r.status == 200 and r.version == 11 and conn.sock is not None   # still open
    assert len(set(versions)) == 1
    # a refused request's body may be left unread: the server closes that connection
    conn.request("POST", "/api/control", body=b"{not json", headers={
        **headers, "Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 400 and r.getheader("Connection") == "close" and b"JSON" in r.read()
    assert conn.sock is None                                               # closed
    conn.close()


def test_the_views_are_the_librarys_numbers(client):
    sid = new_session(client)
    client.control(sid, "step")
    snap = client.state(sid)
    session = client.server.sessions[sid]
    trainer = session.trainer
    fake = trainer.sample(lab_snapshot.N_SHOWN, seed=7)
    real = session.heldout[:lab_snapshot.N_SHOWN]
    np.testing.assert_allclose(snap["fake"], fake, atol=1e-3)
    # the arrows: the GMN's own MMD^2 gradient (data space), and its two parts add up to it
    sig = [s * trainer.data_scale for s in trainer.sigmas]
    _, dX = mmd.mmd2_and_grad(fake[:lab_snapshot.N_ARROWS],
                              lab_settings.spread(real, 4 * lab_snapshot.N_ARROWS), sig)
    a = {k: np.array(v) for k, v in snap["arrows"].items()}
    np.testing.assert_allclose(a["total"], dX, atol=1e-5 + 1e-4 * np.abs(dX).max())
    np.testing.assert_allclose(a["repulsion"] + a["attraction"], a["total"],
                               atol=2e-5 + 1e-4 * np.abs(dX).max())
    # the heat map: the witness of the GMN's kernel on the grid of the view
    n = snap["heat"]["n"]
    assert n >= 64 and len(snap["heat"]["values"]) == n * n
    pts = views.plane_points(snap["box"], n)
    h = mmd.witness(lambda A, B: mmd.gaussian_kernel(A, B, sig), pts,
                    lab_settings.spread(real, lab_snapshot.N_HEAT),
                    fake[:lab_snapshot.N_HEAT])
    np.testing.assert_allclose(snap["heat"]["values"], h, atol=6e-5)  # 4 digits
    assert snap["modes"]["of"] == 8 and 0 <= snap["modes"]["modes"] <= 8
    assert "minigan/mmd.py" in snap["sources"]["arrows"][0]
    # the GAN's heat map is D(x); its half steps move one network each, not the step count
    client.params(sid, method="gan")
    client.control(sid, "step")
    gan = client.server.sessions[sid].trainer
    G, D = ([p.copy() for p in gan.nets[k].params] for k in "GD")
    assert client.control(sid, "critic")[1]["step"] == 1
    assert all(np.array_equal(p, q) for p, q in zip(gan.generator.params, G))
    assert not all(np.array_equal(p, q) for p, q in zip(gan.discriminator.params, D))
    D = [p.copy() for p in gan.discriminator.params]
    assert client.control(sid, "generator")[1]["half_steps"] == {"critic": 1, "generator": 1}
    assert all(np.array_equal(p, q) for p, q in zip(gan.discriminator.params, D))
    assert not all(np.array_equal(p, q) for p, q in zip(gan.generator.params, G))
    snap, gan = client.state(sid), client.server.sessions[sid].trainer
    np.testing.assert_allclose(snap["heat"]["values"], gan.discriminate(pts), atol=6e-5)


def test_the_guide_links_point_at_real_sections(client):
    status, page = client.request("/guide")
    if status == 404:
        pytest.skip("not a source checkout: docs/guide.md is not at hand")
    text = page.decode()
    for anchor in views.GUIDE.values():
        assert f'id="{anchor}"' in text


def test_draw_train_and_export(client, tmp_path):
    sid = new_session(client, dataset="draw", speed=100)
    status, snap = client.control(sid, "play")
    assert status == 400 and "draw at least 10 points" in snap["error"]
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    pts = np.round(np.stack([np.cos(t), 0.5 * np.sin(t)], 1), 4).tolist()
    status, snap = client.request("/api/draw", {"session": sid, "points": pts, "mode": "add"})
    assert status == 200 and snap["n_drawn"] == 200
    np.testing.assert_allclose(snap["real"], pts, atol=1e-3)
    assert client.control(sid, "play")[0] == 200
    assert wait_for(lambda: client.state(sid)["step"] >= 5)
    client.control(sid, "pause")
    step = client.state(sid)["step"]
    status, blob = client.request(f"/api/export/checkpoint?session={sid}&token={client.server.token}",
                                  headers={"X-Minigan-Token": None})
    assert status == 200
    (tmp_path / "lab.npz").write_bytes(blob)
    loaded = minigan.GMN.load(tmp_path / "lab.npz")
    assert loaded.step_count == step
    np.testing.assert_array_equal(loaded.sample(5, seed=1),
                                  client.server.sessions[sid].trainer.sample(5, seed=1))
    # the exported script trains the same numbers: the page's bursts of fit draw what one fit draws
    status, code = client.request(f"/api/export/python?session={sid}")
    assert status == 200
    out = subprocess.run([sys.executable, "-c", code.decode()], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    steps, last = out.stdout.split(" ", 1)
    assert int(steps) == step
    assert ast.literal_eval(last) == {"loss": loaded.history["loss"][-1]}


def test_a_diverged_step_is_shown_and_the_last_good_state_kept(client):
    sid = new_session(client)
    client.control(sid, "step")
    trainer = client.server.sessions[sid].trainer
    before = [p.copy() for p in trainer.generator.params]
    assert client.params(sid, lr=1e6)[0] == 200
    status, snap = client.control(sid, "step")
    assert status == 200 and snap["error"]["kind"] == "diverged"
    assert "diverged at step 2" in snap["error"]["message"] and snap["step"] == 1
    for p, q in zip(trainer.generator.params, before):
        np.testing.assert_array_equal(p, q)
    assert client.params(sid, lr=1e-3)[0] == 200      # the server keeps serving
    assert client.control(sid, "step")[1]["step"] == 2


BAD = [  # (what, path, body or raw bytes, headers, status, words in the message)
    ("unknown field", "/api/control", {"action": "step", "extra": 1}, {}, 400, "unknown field"),
    ("unknown setting", "/api/params", {"params": {"learning_rate": 1}}, {}, 400,
     "unknown setting"),
    ("negative lr", "/api/params", {"params": {"lr": -1}}, {}, 400, "lr must be"),
    ("lr a string", "/api/params", {"params": {"lr": "fast"}}, {}, 400, "lr"),
    ("batch of 1", "/api/params", {"params": {"batch": 1}}, {}, 400, "batch must be"),
    ("batch too big", "/api/params", {"params": {"batch": 10**6}}, {}, 400, "batch must be"),
    ("bad bandwidths", "/api/params", {"params": {"sigmas": [0.1, -2]}}, {}, 400, "sigmas"),
    ("unknown rule", "/api/params", {"params": {"sigmas": "widest"}}, {}, 400, "sigmas"),
    ("knob of another method", "/api/params", {"params": {"critic_steps": 2}}, {}, 400,
     "no such setting"),
    ("unknown dataset", "/api/params", {"params": {"dataset": "mnist"}}, {}, 400, "dataset"),
    ("unknown view", "/api/params", {"params": {"views": ["x"]}}, {}, 400, "views"),
    ("negative speed", "/api/params", {"params": {"speed": -1}}, {}, 400, "speed"),
    ("unknown action", "/api/control", {"action": "jump"}, {}, 400, "action must be"),
    ("malformed JSON", "/api/control", b'{"session": ', {}, 400, "malformed JSON"),
    ("not an object", "/api/control", b"[1, 2]", {}, 400, "JSON object"),
    ("too many points", "/api/draw", {"points": [[0.0, 0.0]] * 3001, "mode": "add"}, {}, 400,
     "too many points"),
    ("points not pairs", "/api/draw", {"points": [[0.0, 0.0, 1.0]], "mode": "add"}, {}, 400,
     "pairs"),
    ("points not finite", "/api/draw", {"points": [[1e300, 0.0]], "mode": "add"}, {}, 400,
     "within"),
    ("bad Host", "/api/control", {"action": "step"}, {"Host": "evil.example:80"}, 403, "Host"),
    ("missing token", "/api/control", {"action": "step"}, {"X-Minigan-Token": None}, 403, "token"),
    ("wrong token", "/api/control", {"action": "step"}, {"X-Minigan-Token": "guess"}, 403,
     "token"),
    ("cross origin", "/api/control", {"action": "step"}, {"Origin": "http://evil.example"}, 403,
     "cross-origin"),
    ("not JSON", "/api/control", {"action": "step"}, {"Content-Type": "text/plain"}, 415, "JSON"),
    ("unknown session", "/api/control", {"session": "nope", "action": "step"}, {}, 404,
     "no open session"),
]


@pytest.mark.parametrize("what, path, body, headers, status, words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_a_4xx_with_a_message_and_change_nothing(client, what, path, body,
                                                                  headers, status, words):
    sid = new_session(client)
    client.control(sid, "step")
    before = client.request(f"/api/state?session={sid}")[1]
    session = client.server.sessions[sid]
    trainer, params = session.trainer, [p.copy() for p in session.trainer.generator.params]
    if isinstance(body, dict):
        body = json.dumps({"session": sid, **body}).encode()
    got, answer = client.request(path, raw=body, headers=headers)
    assert got == status and words in answer["error"], answer
    assert client.request(f"/api/state?session={sid}")[1] == before
    assert session.trainer is trainer and session.trainer.step_count == 1
    for p, q in zip(trainer.generator.params, params):
        np.testing.assert_array_equal(p, q)


def test_page_needs_the_token_and_reads_nothing_else_from_disk(client):
    assert client.request("/", headers={"X-Minigan-Token": None})[0] == 403
    status, page = client.request(f"/?token={client.server.token}", headers={"X-Minigan-Token": None})
    assert status == 200 and b'id="step-count"' in page
    assert b"http" not in page.replace(b'http-equiv', b'')    # nothing fetched from elsewhere
    for path in ("/static/../session.py", "/static/lab.js/../../server.py", "/etc/passwd"):
        assert client.request(path)[0] == 404
    assert client.request("/", headers={"Host": "attacker.example"})[0] == 421


def test_idle_sessions_end():
    server = LabServer(port=0, idle_seconds=0.3)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        c = Client(server)
        sid = new_session(c)
        session = server.sessions[sid]
        assert wait_for(lambda: not session.thread.is_alive(), timeout=10)
        status, answer = c.request(f"/api/state?session={sid}")
        assert status == 404 and "reload the page" in answer["error"]
    finally:
        server.shutdown()
        server.close_sessions()
        server.server_close()
        thread.join()


def test_the_command_prints_the_url_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "minigan", "lab", "--no-browser"],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert line.startswith("minigan lab: http://127.0.0.1:") and "?token=" in line
        url = line.split()[-1]
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_generator_far_off_the_data_still_gets_a_snapshot(client):
    # no sample near a mode: the protocol's reverse KL is inf, which JSON cannot carry
    sid = new_session(client)
    client.control(sid, "step")
    session = client.server.sessions[sid]
    for p in session.trainer.generator.params[-1:]:
        p += 50.0                                   # shift every output far from the ring
    status, snap = client.params(sid, views=list(lab_settings.VIEWS))
    assert status == 200 and "view_error" not in snap
    assert snap["modes"]["modes"] == 0 and snap["modes"]["reverse_kl"] is None
    assert views.rounded([1.0, np.inf, np.nan]) == [1.0, None, None]


def test_the_arrows_are_the_generators_gradient_by_finite_differences():
    # the MMD-GAN's arrows: feature MMD^2 back through the critic plus the raw term; the GAN's:
    # the non-saturating loss -mean log D(x); both in data space
    ring = data.ring()
    real = ring.sample(8, seed=2)
    m = minigan.MMDGAN(2, seed=0, hidden=(16, 16), critic_hidden=(16,), features=4)
    m.fit(ring, steps=3, batch_size=32, progress=False)
    fake = m.sample(6, seed=1)

    def mmdgan_loss():
        x, y = m._to_model(fake), m._to_model(real)
        return (mmd.mmd2(m.features_of(fake), m.features_of(real), m.sigmas, m.estimator)
                + m.raw_weight * mmd.mmd2(x, y, m.raw_sigmas, m.estimator))

    a = views.arrows(m, fake, real)
    assert rel_error(a["total"], numerical_gradient(mmdgan_loss, fake)) < 1e-6
    np.testing.assert_allclose(a["repulsion"] + a["attraction"], a["total"], atol=1e-12)
    g = minigan.GAN(2, seed=0, hidden=(16, 16))
    g.fit(ring, steps=3, batch_size=32, progress=False)
    fake = g.sample(6, seed=1)
    gan_loss = lambda: -np.mean(np.log(g.discriminate(fake)))  # noqa: E731
    assert rel_error(views.arrows(g, fake, real)["total"],
                     numerical_gradient(gan_loss, fake)) < 1e-6


def test_a_new_trainer_starts_with_a_one_step_burst(monkeypatch):
    # a burst is sized by the trainer's own pace: after a switch to a slower trainer, one
    # sized by the old trainer's steps would hold the lock (and every click) for seconds
    bursts = []
    train = lab_session.LabSession._train

    def spy(self, k, half=None, callback=None):
        bursts.append((self.params["method"], k))
        return train(self, k, half, callback)

    monkeypatch.setattr(lab_session.LabSession, "_train", spy)
    s = lab_session.LabSession("bursts", idle_seconds=600)
    try:
        s.set_params({"method": "gan", "backend": "numpy", "views": ["samples"]})
        s.control("play")
        assert wait_for(lambda: any(k > 1 for m, k in bursts if m == "gan"), timeout=30)
        s.set_params({"method": "mmdgan"})          # a rebuild pauses
        s.control("play")
        assert wait_for(lambda: any(m == "mmdgan" for m, _ in bursts), timeout=30)
        assert next(k for m, k in bursts if m == "mmdgan") == 1
    finally:
        s.close()
        s.thread.join(timeout=30)   # its last burst done: no fit outlives the test


@pytest.mark.parametrize("cls, kw", [
    (minigan.GMN, {}),
    (minigan.GAN, {"d_hidden": (16,)}),
    (minigan.MMDGAN, {"critic_hidden": (16,), "stabilizer": "spectral"}),
])
def test_a_mirror_computes_what_its_trainer_computes(cls, kw):
    # the views thread draws a mirror of the trainer: every view must come out the same
    ring = data.ring()
    t = cls(2, seed=0, hidden=(16, 16), **kw).fit(ring, steps=5, batch_size=32, progress=False)
    m = lab_snapshot.mirror(t, cls(2, seed=1, hidden=(16, 16), **kw))
    assert m.step_count == t.step_count == 5
    real, fake = ring.sample(40, seed=2), t.sample(12, seed=3)
    np.testing.assert_array_equal(m.sample(12, seed=3), fake)
    np.testing.assert_array_equal(views.heat(m, real[:9], real, fake), views.heat(t, real[:9], real, fake))
    for k, v in views.arrows(t, fake, real).items():
        np.testing.assert_array_equal(views.arrows(m, fake, real)[k], v)
    t.fit(ring, steps=1, batch_size=32, progress=False)     # the trainer moves on ...
    assert not np.array_equal(t.sample(12, seed=3), m.sample(12, seed=3))
    lab_snapshot.mirror(t, m)                                # ... and a new frame follows it
    np.testing.assert_array_equal(m.sample(12, seed=3), t.sample(12, seed=3))


def test_while_playing_the_training_thread_computes_no_view(monkeypatch):
    made = []                                 # (thread name, step) of every snapshot made
    render = lab_session.render

    def spy(frame, now):
        made.append((threading.current_thread().name, frame.core["step"]))
        return render(frame, now)

    monkeypatch.setattr(lab_session, "render", spy)
    s = lab_session.LabSession("views", idle_seconds=600)
    try:
        s.control("play")
        made.clear()                          # the click's own snapshot, made in this thread
        assert wait_for(lambda: s.trainer.step_count >= 60 and len(made) >= 6, timeout=60)
        s.control("pause")
        playing = made[:-1]                   # the pause click's own snapshot last
        assert playing and {name for name, _ in playing} == {"minigan-lab-views-views"}
        steps = [step for _, step in playing]
        assert steps == sorted(steps) and steps[-1] > steps[0]   # the views follow training
        assert json.loads(s.snapshot)["step"] == s.trainer.step_count   # paused: up to date
    finally:
        s.close()
        s.thread.join(timeout=30)
        s.views_thread.join(timeout=30)
