"""Redaction: no generated password or token survives into what we print.

Properties over generated URLs (any characters in a user-info password, raw ``/``, ``@``
and ``:`` included; secret-named query parameters in any case), connection strings, and
lines of text that quote them; then the examples that show what stays readable.
"""

from __future__ import annotations

import io
import logging
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from workers.redaction import MASK, RedactingFilter, redact, redact_url, secret_name, secrets_of

SAFE = string.ascii_letters + string.digits + "-._~"
words = st.text(SAFE, min_size=1, max_size=12)
hosts = st.sampled_from(["db", "db.internal", "10.0.0.7", "hooks.example.com", "[::1]"])
schemes = st.sampled_from(["postgresql", "postgres", "https", "http", "mysql+driver"])
ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
paths = st.one_of(st.just(""), st.lists(words, max_size=3).map(lambda ws: "/" + "/".join(ws)))
# Query parameters whose names are not secret; values may hold '@' and ':'.
plain_params = st.lists(
    st.tuples(
        st.sampled_from(["sslmode", "x", "channel", "email", "page"]),
        st.text(SAFE + "@:", max_size=10),
    ),
    max_size=3,
)
SECRET_NAMES = [
    "password",
    "pass",
    "pwd",
    "token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "signature",
    "sig",
    "auth",
    "access_token",
    "client_secret",
    "sslpassword",
    "X-Amz-Signature",
]
secret_names = st.sampled_from(SECRET_NAMES).flatmap(
    lambda name: st.sampled_from([name, name.upper(), name.title()])
)


def query(params: list[tuple[str, str]]) -> str:
    return "?" + "&".join(f"{k}={v}" for k, v in params) if params else ""


@given(
    scheme=schemes,
    user=st.text(SAFE, max_size=8),
    password=st.text(min_size=1),
    host=hosts,
    port=ports,
    path=paths,
    params=plain_params,
)
def test_a_user_info_password_never_shows(
    scheme: str, user: str, password: str, host: str, port: str, path: str, params: list
) -> None:
    """Whatever the password holds (raw '/', '@', ':', '?', newlines), it is masked."""
    rest = f"cannot reach {scheme}://{user}:@{host}{port}{path}{query(params)}{MASK}"
    assume(password not in rest)  # else it "shows" in what surrounds it
    url = f"{scheme}://{user}:{password}@{host}{port}{path}{query(params)}"
    assert password not in redact_url(url)
    if not any(c.isspace() for c in password):  # in text, whitespace ends a URL
        assert password not in redact(f"cannot reach {url}")


@given(
    scheme=schemes,
    host=hosts,
    port=ports,
    path=paths,
    before=plain_params,
    name=secret_names,
    secret=st.text(string.printable.replace("&", "").replace("#", "").replace(";", ""), min_size=1),
    after=plain_params,
)
def test_a_secret_query_parameter_never_shows(
    scheme: str,
    host: str,
    port: str,
    path: str,
    before: list,
    name: str,
    secret: str,
    after: list,
) -> None:
    """?password=, ?api_key=, ?sig= and their kind are masked, in any case and position."""
    start = f"{scheme}://{host}{port}{path}"
    assume(secret not in start + query([*before, (name, MASK), *after]))
    url = start + query([*before, (name, secret), *after])
    assert secret not in redact_url(url)


@given(
    user=st.text(SAFE, max_size=8),
    password=st.text(
        st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc")),
        min_size=1,
    ),
    host=hosts,
    path=paths,
)
def test_a_password_in_a_line_of_text_never_shows(
    user: str, password: str, host: str, path: str
) -> None:
    """A URL inside a message or log line (quoted or not) loses its password too, quotes in
    the password included."""
    url = f"postgresql://{user}:{password}@{host}{path}"
    assume(password not in f'postgresql://{user}:@{host}{path} lost at {MASK}: gone, \'"url"{{}}')
    for line in (f"lost {url}: gone", f"lost '{url}': gone", f'{{"url": "{url}"}}'):
        assert password not in redact(line)


@given(
    password=st.text(st.characters(blacklist_categories=("Zs", "Cc")), min_size=1),
    quoted=st.booleans(),
)
def test_a_connection_string_password_never_shows(password: str, quoted: bool) -> None:
    """libpq's key=value form: a plain or a quoted (escaped) password is masked."""
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    value = f"'{escaped}'" if quoted or "'" in password or "\\" in password else password
    assume(password not in "host=db port=5432 dbname=cs password= ***")
    dsn = f"host=db port=5432 password={value} dbname=cs"
    assert password not in redact_url(dsn)
    assert redact_url(dsn).startswith("host=db port=5432 password=***")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://app:hunter2@db:5432/cs?sslmode=require",
            "postgresql://app:***@db:5432/cs?sslmode=require",
        ),
        (
            "postgresql://app@db:5432/cs?password=hunter2",
            "postgresql://app@db:5432/cs?password=***",
        ),
        ("postgresql://app:s3cr/et@db/cs", "postgresql://app:***@db/cs"),
        ("postgresql://app:p@ss@w@rd@db/cs", "postgresql://app:***@db/cs"),
        (
            "https://user:pw@chat.example/hook?api_key=k1&channel=cs",
            "https://user:***@chat.example/hook?api_key=***&channel=cs",
        ),
        (
            "https://s3.example/x?X-Amz-Signature=abc&X-Amz-Date=1",
            "https://s3.example/x?X-Amz-Signature=***&X-Amz-Date=1",
        ),
        ("sqlite:///.playbook/playbook.db", "sqlite:///.playbook/playbook.db"),
        ("https://crm.example/hooks/stage?id=7", "https://crm.example/hooks/stage?id=7"),
        ("https://user@crm.example/a:b", "https://user@crm.example/a:b"),
    ],
)
def test_what_is_not_secret_stays_readable(url: str, shown: str) -> None:
    """Host, port, database, path and plain parameters stay; only the secrets go."""
    assert redact_url(url) == shown


def test_text_keeps_its_words_and_masks_pairs_and_known_secrets() -> None:
    """In a line, URLs, secret-named pairs and given secrets are masked, nothing else."""
    line = 'GET /v1/accounts?token=abc&tier=critical HTTP/1.1 password=hunter2 invalid "tok3n!"'
    assert redact(line, secrets=["tok3n!"]) == (
        'GET /v1/accounts?token=*** &tier=critical HTTP/1.1 password=*** invalid "***"'
    ).replace("*** &", "***&")


def test_secrets_of_gives_raw_and_decoded_parts() -> None:
    """A driver may quote the password decoded; both forms are known secrets."""
    assert secrets_of("postgresql://u:p%40ss@h/db?sslpassword=x%2Fy") == [
        "p%40ss",
        "x%2Fy",
        "p@ss",
        "x/y",
    ]


def test_secret_names() -> None:
    """Names that look like credentials are secret, ordinary ones are not."""
    assert all(secret_name(n) for n in SECRET_NAMES)
    assert not any(secret_name(n) for n in ("sslmode", "channel", "email", "host", "dbname"))


def test_the_log_filter_masks_messages_and_their_arguments() -> None:
    """A record formatted from arguments (uvicorn's access log) is masked once formatted."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test.redaction.access")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/x?api_key=K9", "1.1", 200)
        log.warning("store at %s", "postgresql://u:hunter2@db/cs")
    finally:
        log.removeHandler(handler)
    assert "K9" not in out.getvalue() and "hunter2" not in out.getvalue()
    assert '"GET /x?api_key=*** HTTP/1.1" 200' in out.getvalue()
