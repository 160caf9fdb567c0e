"""`registered_domain` / `top_level_domain` / `subdomain` as Elasticsearch's `registered_domain` processor.

Elasticsearch asks Apache httpclient's PublicSuffixMatcher for the "domain root", with quirks its expected
documents show and a plain Public Suffix List lookup would not reproduce:

* private-section rules (`cloudfront.net`, `us-east-1.amazonaws.com`) count, and when one matches, the
  root is the suffix itself: `d111.cloudfront.net` -> registered `cloudfront.net`;
* `top_level_domain` is the registered domain minus its first label, not the matched suffix:
  `x.s3.dualstack.us-east-1.amazonaws.com` -> top level `dualstack.us-east-1.amazonaws.com`;
* a name that is itself an ICANN suffix (`co.uk`) gets only `top_level_domain`.

* the name is only split at dots: `evil.com/x.example.org` is registered under `example.org`, and a name whose
  last label is no suffix (`example.com:443`, `example.com.`) has none;
* A-Z are lower-cased, other letters are not, and a label holding an upper-case one matches no list entry.

Checked against httpclient 4.5.14 (the jar in Elasticsearch 8.19) reading the same list: the one difference
left is the list's own test entry `!ignored.wc.psl.hrsn.dev` (an exception in the private section).

tldextract runs offline on its bundled Public Suffix List snapshot (no fetch at run time). It is newer than
the one inside Elasticsearch, so names under suffixes added since (e.g. `s3.us-east-1.amazonaws.com`) resolve
to a longer registered domain than Elastic's. Its public entry point reads a URL (it drops a scheme, user info,
port, path, query, fragment and trailing dots), so the name goes to the label matcher behind it instead; a DNS
query name, which its sender chooses, may hold any of those characters.
"""

from __future__ import annotations

import tldextract

from parsers.short_cache import cached_when_short

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NO_RULE = "\ue000"  # a private-use character: no list entry holds it


def _as_java_compares(name: str) -> str:
    """The name as the matcher's lookup key sees it. Java looks labels up as written (IDN.toUnicode folds no
    case), so `SNÅSA.no` is not the suffix `snåsa.no` there; tldextract folds every label, so a letter with a
    lower case form is hidden from it. Dots and length stay, so the parts map back onto `name` by position."""
    if name.isascii():
        return name
    return "".join(char if char.lower() == char else _NO_RULE for char in name)

# Names up to this long (a DNS name's limit, 253, and a trailing dot to spare) have their answers cached.
# Longer text is no name DNS resolves, but a log line may still hold it (its writer chooses).
CACHED_UP_TO = 255


@cached_when_short(CACHED_UP_TO, maxsize=65536)
def registered_domain(fqdn: str) -> dict[str, str] | None:
    """{domain, registered_domain, top_level_domain, subdomain} (only the parts that exist), or None.

    `domain` is the name as given. Callers strip a trailing dot first where the pipeline does. The dict may
    be shared between calls: do not change it.
    """
    if not fqdn or fqdn.startswith("."):
        return None
    name = fqdn.translate(_ASCII_LOWER)  # httpclient's DnsUtils.normalize lower-cases A-Z only
    try:
        parts = _EXTRACT._extract_netloc(_as_java_compares(name), include_psl_private_domains=True)
    except (ValueError, UnicodeError):  # IDNA encoding of odd labels
        return None
    if not parts.suffix:
        return None
    suffix = name[len(name) - len(parts.suffix):]  # as written: the matcher's key may differ from the name
    if parts.is_private:
        root = suffix
    elif len(name) > len(suffix):  # the label before the suffix, even an empty one (`a..com` -> `.com`)
        head = name[:len(name) - len(suffix) - 1]
        root = f"{head[head.rfind('.') + 1:]}.{suffix}"
    else:  # the whole name is a public suffix
        return {"top_level_domain": fqdn}
    first_dot = root.find(".") + 1
    if not 0 < first_dot < len(root):
        return None
    out = {"domain": fqdn, "registered_domain": root, "top_level_domain": root[first_dot:]}
    sub_end = fqdn.rfind("." + root)
    if sub_end > 0:
        out["subdomain"] = fqdn[:sub_end]
    return out
