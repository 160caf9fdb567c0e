"""Helpers shared by the line-format parsers (VPC Flow, ELB, S3 access, CloudFront, Route 53 public).

    NUMBER, ISO8601, HOSTNAME   grok's patterns of those names, as regex source (compile with re.ASCII)
    LONG, POSINT                NUMBER / POSINT captured `:long`: only what converts
    committed(pattern)          a grok-style regex without its `(?:-|...)` backtracking (see there)
    ip_kind(text)               4, 6 or None: a strict IP address check ~10x faster than `ipaddress`
    java_long(value)            what Elasticsearch's long (or, bits=32, integer) conversion keeps, else None
    uri_parts(text)             the `url.*` fields Elasticsearch's `uri_parts` processor writes
    iso8601_ms(text)            an ISO 8601 timestamp as the `date` processor renders it (UTC, milliseconds)
    epoch_s_ms(text)            a UNIX-seconds string the same way (the `UNIX` date format)
    mustache_text(text)         a string as a pipeline's double-brace template `{{field}}` renders it
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from parsers import ecs
from parsers.short_cache import cached_when_short

NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
# A NUMBER whose `:long` conversion succeeds; Elasticsearch fails the whole line on any other.
LONG = r"[+-]?[0-9]{1,18}"
POSINT = r"[1-9][0-9]{0,17}"
ISO8601 = (r"\d{2,4}-(?:0?[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]|[1-9])[T ](?:2[0-3]|[01]?\d):?[0-5]\d"
           r"(?::?(?:[0-5]?\d|60)(?:[:.,]\d+)?)?(?:Z|[+-](?:2[0-3]|[01]?\d)(?::?[0-5]\d))?")
HOSTNAME = r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*(?:\.?|\b)"


def committed(pattern: str) -> str:
    r"""Make grok's `(?:-|X)` alternatives commit to `-` when the field is exactly `-`.

    X usually matches `-` too, so on a line that fails further on, a backtracking engine tries both readings
    of every such field: 2^n attempts for n fields. Both readings consume the same text, so committing to the
    first changes no result, only the time to fail. A `-` followed by more text still goes to X.

    The group becomes atomic: X must end where the next delimiter starts and be unable to consume it (`\S+`
    before a space, `[^"]*` before a quote). A quoted X (`(?P<name>[^"]*)`) holds spaces, so its `-` is the
    whole field only right before the closing quote: an ALB `"- 502"` (no status from the first target) is
    one list, as the grok reads it; an unquoted `-` is the whole field only before whitespace or the end (a
    CloudFront `-"x` is X). Write other fields (`\S+` before a quote, a lazy X) another way.
    """
    pattern = _QUOTED_DASH.sub(r'(?>-(?=")|', pattern)
    return pattern.replace("(?:-|", r'(?>-(?=\s|\Z)|').replace("(?:-1|", r'(?>-1(?=\s|\Z)|')


_QUOTED_DASH = re.compile(r'\(\?:-\|(?=\(\?P<\w+>\[\^"\]\*\)\))')


def ip_kind(text: str) -> int | None:
    """4 or 6 for an IP address in its usual text form (no zone index, no leading zeros), else None."""
    try:
        socket.inet_pton(socket.AF_INET, text)
        return 4
    except (OSError, ValueError):  # ValueError: embedded NUL
        pass
    try:
        socket.inet_pton(socket.AF_INET6, text)
        return 6
    except (OSError, ValueError):
        return None


_INT_RANGES = {bits: (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for bits in (32, 64)}


def java_long(value: Any, bits: int = 64) -> int | None:
    """An int, or a decimal string with an optional sign, within Java's long (or int) range; else None.

    Elasticsearch fails the conversion of anything else (a float, `1e3`, an overflow); orjson could not even
    render an integer beyond 64 bits.
    """
    if type(value) is str:
        if len(value) < 10 and value.isdigit() and value.isascii():
            return int(value)  # the common case, in range for both sizes
        if not (0 < len(value) <= 20 and value.isascii() and value[value[0] in "+-":].isdigit()):
            return None
        number = int(value)
    elif type(value) is int:
        number = value
    else:
        return None
    low, high = _INT_RANGES[bits]
    return number if low <= number <= high else None


# --- templates ---------------------------------------------------------------------------------------

# Jackson's JsonStringEncoder.quoteAsString: quote, backslash and control characters, nothing else.
_TEMPLATE_ESCAPED = re.compile(r'["\\\x00-\x1f]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def mustache_text(text: str) -> str:
    r"""`{{field}}` in a `set`/`append` value: Elasticsearch's mustache JSON-escapes what it inserts (only a
    triple brace `{{{field}}}` does not), so `a\b` becomes `a\\b` (elastic/elasticsearch#65115)."""
    if _TEMPLATE_ESCAPED.search(text) is None:
        return text
    return _TEMPLATE_ESCAPED.sub(lambda m: _SHORT_ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04X}", text)


# --- dates -------------------------------------------------------------------------------------------

_ISO_FAST = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d+))?(Z|[+-]00:?00)?\Z", re.ASCII)


def iso8601_ms(text: str) -> str | None:
    """`2018-07-02T22:23:00.186641Z` -> `2018-07-02T22:23:00.186Z`; no zone means UTC; None if unparsable."""
    fast = _ISO_FAST.match(text)
    if fast is not None:
        day, clock, fraction, _ = fast.groups()
        millis = (fraction or "")[:3].ljust(3, "0")
        return f"{day}T{clock}.{millis}Z"
    try:
        return ecs.iso_to_iso_ms(text)
    except (ValueError, OverflowError):
        return None


_EPOCH = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]+)?\Z")


@cached_when_short(32, maxsize=8192)  # real values are 10 digits, a few with a fraction
def epoch_s_ms(text: str) -> str | None:
    """UNIX seconds (flow logs repeat the same few values, hence the cache) as an ES date, or None."""
    if not _EPOCH.match(text):
        return None
    try:
        seconds = float(text) if "." in text else int(text)
        return ecs.iso_ms(datetime.fromtimestamp(seconds, UTC))
    except (ValueError, OverflowError, OSError):
        return None


# --- uri_parts ---------------------------------------------------------------------------------------
# Elasticsearch parses with java.net.URI and, when that rejects the text, with the more lenient java.net.URL.
# URI's getters percent-decode; URL's return the raw text. Both quirks show up in Elastic's expected documents.

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Characters java.net.URI refuses anywhere (it accepts other non-ASCII), and `%` not followed by two hex digits.
_URI_ILLEGAL = re.compile(
    r"[\x00-\x20\"<>\\^`{|}\x7f-\x9f\[\]\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    r"|%(?![0-9A-Fa-f]{2})"
)
_URI_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?"
    r"|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\Z"
)
_URI_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
# Protocols java.net.URL has a handler for; it refuses any other scheme.
_URL_PROTOCOLS = frozenset(("http", "https", "ftp", "file", "jar", "mailto", "jrt"))


# The usual shape, `[scheme://host[:port]]/path[?query]` in plain ASCII with nothing to decode, in one match.
_SIMPLE_URI = re.compile(
    r"(?:([A-Za-z][A-Za-z0-9+.\-]*)://([A-Za-z0-9.\-]+)(?::([0-9]{1,9}))?)?"
    r"(/[^\x00-\x20\"<>\\^`{|}\x7f-\uffff#?\[\]%]*)?(?:\?([^\x00-\x20\"<>\\^`{|}\x7f-\uffff#\[\]%]*))?\Z"
)


def uri_parts(text: str) -> dict[str, Any] | None:
    """{original, scheme, domain, port, path, extension, query, fragment, user_info, username, password}.

    Only the parts present are returned; None when neither java.net.URI nor java.net.URL would parse it.
    """
    simple = _SIMPLE_URI.match(text)
    if simple is not None and (simple[2] is None or _URI_HOST.fullmatch(simple[2])) and (simple[1] or simple[4]):
        scheme, domain, port, path, query = simple.groups()
        out: dict[str, Any] = {"original": text}
        if scheme:
            out["scheme"] = scheme
            out["domain"] = domain
            if port:
                out["port"] = int(port)
        if path:
            out["path"] = path
            if (extension := _extension(path)) is not None:
                out["extension"] = extension
        if query:
            out["query"] = query
        return out
    parts = _java_uri(text)
    if parts is None:
        parts = _java_url(text)
        if parts is None:
            return None
    path = parts.get("path")
    if path:
        parts["extension"] = _extension(path)
    user_info = parts.get("user_info")
    if user_info and ":" in user_info:
        parts["username"], _, parts["password"] = user_info.partition(":")
    parts["original"] = text
    return {k: v for k, v in parts.items() if v is not None and v != ""} or None


def _extension(path: str) -> str | None:
    """What follows the last dot of the path's last segment (`/v1.2/users` has none), as Elasticsearch 8.13
    and later take it (elastic/elasticsearch#105689; before, the last dot anywhere in the path counted)."""
    last_slash = path.rfind("/")
    if last_slash < 0:
        return None
    dot = path.rfind(".", last_slash)
    return path[dot + 1:] if dot >= 0 else None


def _java_uri(text: str) -> dict[str, Any] | None:
    rest, fragment = text, None
    if "#" in rest:
        rest, _, fragment = rest.partition("#")
        if "#" in fragment:
            return None
    # Brackets are legal only around an IPv6 host: check them apart from the other characters.
    bracketed = _URI_IPV6.search(rest)
    if _URI_ILLEGAL.search(rest.replace(bracketed.group(), "", 1) if bracketed else rest):
        return None
    if fragment is not None and _URI_ILLEGAL.search(fragment):
        return None
    parts: dict[str, Any] = {"fragment": _decode(fragment)}
    scheme = _SCHEME.match(rest)
    if scheme is not None:
        parts["scheme"] = rest[:scheme.end() - 1]
        rest = rest[scheme.end():]
        if not rest:
            return None
        if not rest.startswith("/"):  # opaque, e.g. `mailto:x@y`: no path, query or host
            return parts
    elif ":" in rest[:min(i for i in (rest.find("/"), rest.find("?"), len(rest)) if i >= 0)]:
        return None  # a colon before any `/` or `?` must end a valid scheme name
    if rest.startswith("//"):
        end = len(rest)
        for stop in "/?":
            found = rest.find(stop, 2)
            if 0 <= found < end:
                end = found
        authority, rest = rest[2:end], rest[end:]
        if authority:
            server = _server_authority(authority)
            if server is not None:
                parts.update(server)
            else:
                parts["user_info"] = None  # a registry-based authority: Java reports no host, port or user
    path, question, query = rest.partition("?")
    parts["path"] = _decode(path)
    if question:
        parts["query"] = _decode(query)
    return parts


def _server_authority(authority: str) -> dict[str, Any] | None:
    user_info, at, host = authority.rpartition("@")
    port = None
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            return None
        host, tail = host[:close + 1], host[close + 1:]
        if tail:
            if not tail.startswith(":"):
                return None
            port = tail[1:]
    elif ":" in host:
        host, _, port = host.rpartition(":")
        if not _URI_HOST.fullmatch(host):
            return None
    elif not _URI_HOST.fullmatch(host):
        return None
    if port and not _port_ok(port):
        return None
    return {"domain": host, "port": int(port) if port else None, "user_info": _decode(user_info) if at else None}


def _java_url(text: str) -> dict[str, Any] | None:
    scheme = _SCHEME.match(text)
    if scheme is None or text[:scheme.end() - 1].lower() not in _URL_PROTOCOLS:
        return None
    parts: dict[str, Any] = {"scheme": text[:scheme.end() - 1].lower()}
    spec = text[scheme.end():]
    spec, hash_, fragment = spec.partition("#")
    if hash_:
        parts["fragment"] = fragment
    spec, question, query = spec.partition("?")
    if question:
        parts["query"] = query
    if spec.startswith("//"):
        slash = spec.find("/", 2)
        authority, spec = (spec[2:], "") if slash < 0 else (spec[2:slash], spec[slash:])
        user_info, at, host = authority.rpartition("@")
        if at:
            parts["user_info"] = user_info
        if host.startswith("["):
            close = host.find("]")
            if close < 0:
                return None
            host, tail = host[:close + 1], host[close + 1:]
            port = tail[1:] if tail.startswith(":") else None
        else:
            host, colon, port = host.partition(":")
            port = port if colon else None
        if port:
            if not _port_ok(port):
                return None
            parts["port"] = int(port)
        parts["domain"] = host
    parts["path"] = spec
    return parts


def _port_ok(port: str) -> bool:
    return port.isascii() and port.isdigit() and len(port) <= 10 and int(port) <= 2147483647


def _decode(value: str | None) -> str | None:
    if value is None or "%" not in value:
        return value
    return unquote(value, errors="replace")
