"""The HTTP layer on its own: backoff schedule, conditional requests, token handling, cache hygiene."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests_mock

from generator.upstream.http import HttpClient, UpstreamError

URL = "https://api.github.com/repos/opencontainers/runc/releases?per_page=100"
RAW = "https://raw.githubusercontent.com/containerd/containerd/v2.3.4/script/setup/runc-version"


def test_500_then_success_backs_off_exponentially() -> None:
    slept: list[float] = []
    http = HttpClient(backoff=2.0, sleep=slept.append)
    with requests_mock.Mocker() as m:
        m.get(RAW, [{"status_code": 500}, {"status_code": 502}, {"text": "v1.4.3\n"}])
        assert http.get_text(RAW) == "v1.4.3\n"
    assert slept == [2.0, 4.0]
    assert http.stats.retries == 2 and http.stats.requests == 3


def test_4xx_is_not_retried() -> None:
    slept: list[float] = []
    http = HttpClient(sleep=slept.append)
    with requests_mock.Mocker() as m:
        m.get(RAW, status_code=404)
        with pytest.raises(UpstreamError, match="not found"):
            http.get_text(RAW)
        assert m.call_count == 1
    assert slept == []


def test_etag_cache_makes_the_second_run_conditional(tmp_path: Path) -> None:
    with requests_mock.Mocker() as m:

        def respond(request, context):
            context.headers["ETag"] = '"abc"'
            if request.headers.get("If-None-Match") == '"abc"':
                context.status_code = 304
                return ""
            return '[{"tag_name": "v1.4.3"}]'

        m.get(URL, text=respond, complete_qs=True)
        cold = HttpClient(cache_dir=tmp_path)
        assert cold.get_json(URL) == [{"tag_name": "v1.4.3"}]
        warm = HttpClient(cache_dir=tmp_path)
        assert warm.get_json(URL) == [{"tag_name": "v1.4.3"}]
        assert m.request_history[1].headers["If-None-Match"] == '"abc"'
    assert (cold.stats.ok, cold.stats.not_modified) == (1, 0)
    assert (warm.stats.ok, warm.stats.not_modified) == (0, 1)


def test_a_body_that_fails_to_parse_is_dropped_from_the_cache(tmp_path: Path) -> None:
    with requests_mock.Mocker() as m:
        m.get(URL, text='[{"tag_na', headers={"ETag": '"cut"'}, complete_qs=True)
        with pytest.raises(UpstreamError, match="not valid JSON"):
            HttpClient(cache_dir=tmp_path).get_json(URL)
    assert list(tmp_path.glob("*.json")) == []


def test_token_goes_only_to_the_api_and_never_to_disk(tmp_path: Path) -> None:
    token = "ghp_NEVERLEAK0123456789"
    http = HttpClient(cache_dir=tmp_path, token=token)
    with requests_mock.Mocker() as m:
        m.get(URL, text="[]", headers={"ETag": '"1"'}, complete_qs=True)
        m.get(RAW, text="v1.4.3\n", headers={"ETag": '"2"'})
        http.get_text(URL)
        http.get_text(RAW)
        api_req, raw_req = m.request_history
    assert api_req.headers["Authorization"] == f"Bearer {token}"
    assert "Authorization" not in raw_req.headers
    assert token not in repr(http)
    for f in tmp_path.iterdir():
        assert token not in f.read_text()


def test_an_unwritable_cache_costs_a_refetch_not_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    http = HttpClient(cache_dir=blocker / "cache")
    with requests_mock.Mocker() as m:
        m.get(RAW, text="v1.4.3\n", headers={"ETag": '"1"'})
        assert http.get_text(RAW) == "v1.4.3\n"
