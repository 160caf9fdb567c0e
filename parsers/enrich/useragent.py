"""`user_agent.*` exactly as Elasticsearch's `user_agent` processor writes it.

Two things decide what ES writes, and both differ from the `ua-parser` library:

* The regexes. ES bundles a uap-core snapshot from 2019 (between releases 0.6.0 and 0.6.9); `uap_regexes.yaml`
  beside this file is uap-core 0.6.9. Newer regexes know more agents and operating systems than ES does (they
  read `Mac OS X 23.6.0` out of aws-cli's `os/macos#23.6.0`, which Elastic's expected documents do not have).
* The matching (UserAgentParser.UserAgentSubpattern.match): the first regex that finds a match wins; `$1` in a
  name replacement is substituted once, and only when group 1 took part; version replacements are literal; a
  group that matched empty text is a version part all the same, so `Firefox/24.0` gives version `24.0.`
  (`(?:\\.(\\d+)|)` matched nothing); a match without a name does not count and the search goes on.

Finding the first matching regex is the slow part (over a thousand regexes, a millisecond per string in Python).
`ua-parser-rs` (the `regex` extra of `ua-parser`) does it in microseconds with one Rust regex set: each regex gets
its position as a literal name, so the name it returns says which regex matched first; Python then applies ES's
rules to that one match. The Rust copies spell out Java's ASCII classes (`\\b`, `\\s`, `\\S`, ...; Rust's own are
Unicode-aware and would skip a regex Java matches), and Rust's case-insensitive matching accepts all Java's does,
so a regex Rust skips cannot match in Java either; one it matches that Java does not, Python moves past. Results
are also cached per string: CloudTrail repeats its agents a lot.

An agent is parsed from its first `MAX_PARSED_CHARS` characters (`original` keeps it whole). Whoever sends a
request writes its agent, and Python's re (as Java's, in ES) tries a regex from every position of the text:
for some of uap-core's regexes each try runs to the end, O(n^2) in the agent's length once a text is built
for that regex to be the first that matches. The cut bounds that, and what the result cache holds.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

try:
    import ua_parser_rs
except ImportError:  # pragma: no cover - the plain scan below gives the same answers, only slower
    ua_parser_rs = None

_REGEXES = Path(__file__).with_name("uap_regexes.yaml")
# Real agents are far shorter (the longest, in-app browsers' and SDKs' with their metadata, a few hundred
# characters). At this length an agent built for the slowest regex costs ~12 ms to parse; at 8,000 it cost
# 0.6 s, at 256 KiB (a CloudWatch Logs event) an estimated ten minutes, for each distinct agent.
MAX_PARSED_CHARS = 1024


class _Subpattern(NamedTuple):
    pattern: re.Pattern[str]
    name: str | None  # the *_replacement for the name, or None: group 1
    versions: tuple[str | None, str | None, str | None, str | None]  # literal replacements, or None: groups 2-5


class _Match(NamedTuple):
    name: str
    versions: tuple[str | None, ...]  # major, minor, patch, build


_NAME_KEYS = {"user_agent_parsers": "family_replacement", "os_parsers": "os_replacement",
              "device_parsers": "device_replacement"}
_VERSION_KEYS = {
    "user_agent_parsers": ("v1_replacement", "v2_replacement", "v3_replacement", "v4_replacement"),
    "os_parsers": ("os_v1_replacement", "os_v2_replacement", "os_v3_replacement", "os_v4_replacement"),
    "device_parsers": (None, None, None, None),  # ES reads only the device name
}


class _Section(NamedTuple):
    subpatterns: tuple[_Subpattern, ...]
    first_match: Any  # a ua_parser_rs extractor naming the first matching regex by position, or None


@lru_cache(maxsize=1)
def _sections() -> dict[str, _Section]:
    """Compiled on first use, not at import: about 1000 regexes, a fraction of a second most processes skip."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(_REGEXES.read_text(encoding="utf-8"), Loader=loader)
    sections = {}
    for section, name_key in _NAME_KEYS.items():
        entries = data[section]
        subpatterns = tuple(
            _Subpattern(
                # java.util.regex classes (\d, \w, \b) and CASE_INSENSITIVE are ASCII-only, as re.ASCII makes them.
                re.compile(entry["regex"], re.ASCII | (re.IGNORECASE if entry.get("regex_flag") == "i" else 0)),
                _text(entry.get(name_key)),
                tuple(_text(entry.get(key)) if key else None for key in _VERSION_KEYS[section]),  # type: ignore[misc]
            )
            for entry in entries
        )
        sections[section] = _Section(subpatterns, _first_match_finder(section, entries))
    return sections


def _first_match_finder(section: str, entries: list[dict[str, Any]]) -> Any:
    if ua_parser_rs is None:
        return None
    if section == "device_parsers":
        return ua_parser_rs.DeviceExtractor((_ascii_classes(e["regex"]), "i" if e.get("regex_flag") == "i" else None,
                                             str(i), None, None) for i, e in enumerate(entries))
    extractor = ua_parser_rs.UserAgentExtractor if section == "user_agent_parsers" else ua_parser_rs.OSExtractor
    return extractor((_ascii_classes(e["regex"]), str(i), None, None, None, None) for i, e in enumerate(entries))


# Rust's \b, \S and negated classes holding \s, \d or \w are Unicode-aware, so they are no superset of Java's
# (and re.ASCII's): `\bcurl` does not match `écurl` in Rust (é is a word character there) but does in Java, and
# the search would skip the regex ES picks. The Rust copy of each regex gets the ASCII meaning spelled out.
_CLASS_OUTSIDE = {"d": "[0-9]", "w": "[0-9A-Za-z_]", "s": r"[\t\n\x0B\f\r ]", "D": "[^0-9]",
                  "W": "[^0-9A-Za-z_]", "S": r"[^\t\n\x0B\f\r ]", "b": r"(?-u:\b)", "B": r"(?-u:\B)"}
_CLASS_INSIDE = {"d": "0-9", "w": "0-9A-Za-z_", "s": r"\t\n\x0B\f\r ", "D": "[^0-9]", "W": "[^0-9A-Za-z_]",
                 "S": r"[^\t\n\x0B\f\r ]"}  # Rust takes a class nested in a class as their union


def _ascii_classes(regex: str) -> str:
    out = []
    i, in_class = 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\" and i + 1 < len(regex):
            escaped = regex[i + 1]
            out.append((_CLASS_INSIDE if in_class else _CLASS_OUTSIDE).get(escaped, char + escaped))
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            opening = "[^" if regex.startswith("^", i + 1) else "["
            i += len(opening)
            if regex.startswith("]", i):  # a `]` first in a class is a literal one
                opening += r"\]"
                i += 1
            out.append(opening)
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def _text(value: Any) -> str | None:
    # YAML reads an unquoted replacement such as `os_v1_replacement: 10` as a number; ES reads text.
    return None if value is None else str(value)


def _find(section: _Section, agent: str) -> _Match | None:
    start = 0
    if section.first_match is not None:
        found = section.first_match.extract(agent)
        if found is None:
            return None
        start = int(found.family)
        match = _apply(section.subpatterns[start], agent)
        if match is not None:
            return match
        start += 1  # matched without a name (ES moves on), or Python disagrees: scan on from there
    for sub in section.subpatterns[start:]:
        match = _apply(sub, agent)
        if match is not None:
            return match
    return None


def _apply(sub: _Subpattern, agent: str) -> _Match | None:
    """UserAgentSubpattern.match: the fields one regex gives, or None when it does not match or names nothing."""
    m = sub.pattern.search(agent)
    if m is None:
        return None
    groups = sub.pattern.groups
    if sub.name is None:
        name = m.group(1) if groups >= 1 else None
    elif "$1" in sub.name and groups >= 1 and m.group(1) is not None:
        name = sub.name.replace("$1", m.group(1), 1)
    else:
        name = sub.name
    if name is None:
        return None
    versions = tuple(
        literal if literal is not None else (m.group(i + 2) if groups >= i + 2 else None)
        for i, literal in enumerate(sub.versions)
    )
    return _Match(name, versions)


def _version(parts: tuple[str | None, ...]) -> str | None:
    """Parts joined by dots up to the first missing one; an empty part still adds its dot (ES's quirk)."""
    if parts[0] is None:
        return None
    out = parts[0]
    for part in parts[1:]:
        if part is None:
            break
        out += "." + part
    return out


@lru_cache(maxsize=16384)
def _parse(original: str) -> tuple[str, str | None, tuple[str, str | None] | None, str]:
    sections = _sections()
    agent = _find(sections["user_agent_parsers"], original)
    os_ = _find(sections["os_parsers"], original)
    device = _find(sections["device_parsers"], original)
    return (
        agent.name if agent else "Other",
        _version(agent.versions) if agent else None,
        (os_.name, _version(os_.versions)) if os_ else None,
        device.name if device else "Other",
    )


def warm() -> None:
    """Load and compile the regexes now (about half a second) rather than on the first event parsed."""
    _sections()


def user_agent(original: str | None) -> dict[str, Any] | None:
    """The `user_agent` object for a UA string (a fresh dict), or None for an empty one."""
    if not original:
        return None
    name, version, os_, device = _parse(original[:MAX_PARSED_CHARS])
    out: dict[str, Any] = {"original": original, "name": name}
    if version is not None:
        out["version"] = version
    if os_ is not None:
        os_name, os_version = os_
        out["os"] = {"name": os_name} if os_version is None else {
            "name": os_name, "version": os_version, "full": f"{os_name} {os_version}"}
    out["device"] = {"name": device}
    return out
