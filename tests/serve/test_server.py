"""A real `elasticrec serve` process, talked to over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.parse

import pytest

import elasticrec
from elasticrec import runtime

BUDGET = 5000  # bytes: one to three blocks per item group of the tiny run


def package_path(user, budget=BUDGET, **extra) -> str:
    return "/v1/package?" + urllib.parse.urlencode({"user": user, "budget": budget, **extra})


def test_healthz_and_manifest(peel_server, tiny_runs):
    status, health = peel_server.json("/healthz")
    assert status == 200 and health["status"] == "ok" and health["run"] == "peel"
    status, manifest = peel_server.json("/v1/runs/peel/manifest")
    run = elasticrec.load_run(tiny_runs["peel"])
    assert status == 200
    assert manifest["method"] == "peel" and manifest["n_users"] == len(run.user_ids)
    assert manifest["full_table_bytes"] == run.full_table_bytes
    assert manifest["dtypes"] == ["float32", "float16", "int8", "int4", "int2"]
    status, error = peel_server.json("/v1/runs/other/manifest")
    assert status == 404 and error["parameter"] == "name"


@pytest.mark.parametrize("dtype", ["float32", "int8", "int4"])
def test_package_fits_loads_and_matches_export(peel_server, tiny_runs, dtype):
    run = elasticrec.load_run(tiny_runs["peel"])
    for user in run.user_ids[:12].tolist():  # several groups, ids of several lengths
        status, headers, body = peel_server.get(package_path(user, dtype=dtype))
        assert status == 200
        assert headers["content-type"] == "application/vnd.elasticrec.package"
        assert len(body) <= BUDGET
        pkg = runtime.load_bytes(body)
        assert pkg.users == (str(user),) and pkg.manifest.value_dtype == dtype
        assert headers["etag"] == f'"{body[53:117].decode()}"'
        assert body == run.export(BUDGET, user=user, dtype=dtype)  # cached or not
        assert len(pkg.recommend(5).labels) == 5


def test_etag_answers_304(peel_server):
    status, headers, body = peel_server.get(package_path(37))
    assert status == 200
    status, again, empty = peel_server.get(package_path(37),
                                           {"If-None-Match": headers["etag"]})
    assert status == 304 and empty == b"" and again["etag"] == headers["etag"]
    status, _, other = peel_server.get(package_path(37, budget=BUDGET + 800),
                                       {"If-None-Match": headers["etag"]})
    assert status == 200 and len(other) > len(body)  # a new budget, a new package


def test_repeated_group_requests_hit_the_cache(peel_server):
    before = peel_server.json("/healthz")[1]
    statuses = [peel_server.get(package_path(u, budget=4500))[1]["x-elasticrec-cached"]
                for u in (74, 74, 74)]
    after = peel_server.json("/healthz")[1]
    assert statuses[1:] == ["1", "1"]
    assert after["hits"] - before["hits"] >= 2


@pytest.mark.parametrize("query, status, parameter", [
    ({"budget": BUDGET}, 400, "user"),
    ({"user": "nobody", "budget": BUDGET}, 404, "user"),
    ({"user": 37}, 400, "budget"),
    ({"user": 37, "budget": "lots"}, 400, "budget"),
    ({"user": 37, "budget": 10}, 422, "budget"),
    ({"user": 37, "budget": BUDGET, "dtype": "int3"}, 400, "dtype"),
    ({"user": 37, "budget": BUDGET, "colour": "red"}, 400, "colour"),
])
def test_bad_requests_name_the_parameter(peel_server, query, status, parameter):
    got, headers, body = peel_server.get("/v1/package?" + urllib.parse.urlencode(query))
    error = json.loads(body)
    assert got == status and headers["content-type"] == "application/json"
    assert error["parameter"] == parameter and error["error"]


def test_post_a_new_users_history(peel_server, tiny_runs):
    run = elasticrec.load_run(tiny_runs["peel"])
    history = run.item_ids[:5].tolist()
    body = json.dumps({"history": history, "budget": BUDGET, "dtype": "float16"}).encode()
    status, headers, data = peel_server.post("/v1/package", body)
    assert status == 200 and len(data) <= BUDGET
    pkg = runtime.load_bytes(data)
    assert pkg.users == ("new",) and pkg.manifest.value_dtype == "float16"
    assert data == run.export(BUDGET, history=history, dtype="float16")
    assert headers["etag"] == f'"{data[53:117].decode()}"'


@pytest.mark.parametrize("body, status, parameter", [
    (b"not json", 400, "body"),
    (b"[1, 2]", 400, "body"),
    (json.dumps({"history": [], "budget": BUDGET}).encode(), 400, "history"),
    (json.dumps({"history": ["no-such-item"], "budget": BUDGET}).encode(), 422, "history"),
    (json.dumps({"history": [0, 1]}).encode(), 400, "budget"),
    (json.dumps({"history": [0, 1], "budget": BUDGET, "dtype": 3}).encode(), 400, "dtype"),
    (json.dumps({"history": [0, 1], "budget": BUDGET, "user": 3}).encode(), 400, "user"),
])
def test_bad_posts_name_the_parameter(peel_server, body, status, parameter):
    got, _, data = peel_server.post("/v1/package", body)
    assert got == status and json.loads(data)["parameter"] == parameter
