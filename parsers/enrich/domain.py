"""`registered_domain` / `top_level_domain` / `subdomain` as Elasticsearch's `registered_domain` processor.

Elasticsearch asks Apache httpclient's PublicSuffixMatcher for the "domain root", with quirks its expected
documents show and a plain Public Suffix List lookup would not reproduce:

* private-section rules (`cloudfront.net`, `us-east-1.amazonaws.com`) count, and when one matches, the
  root is the suffix itself: `d111.cloudfront.net` -> registered `cloudfront.net`;
* `top_level_domain` is the registered domain minus its first label, not the matched suffix:
  `x.s3.dualstack.us-east-1.amazonaws.com` -> top level `dualstack.us-east-1.amazonaws.com`;
* a name that is itself an ICANN suffix (`co.uk`) gets only `top_level_domain`.

* the name is only split at dots: `evil.com/x.example.org` is registered under `example.org`, and a name whose
  last label is no suffix (`example.com:443`, `example.com.`) has none.

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
    try:
        # httpclient's DnsUtils.normalize lower-cases A-Z only (`İ`.lower() is even two characters); the
        # matcher itself compares labels case-folded, and so does tldextract.
        parts = _EXTRACT._extract_netloc(fqdn.translate(_ASCII_LOWER), include_psl_private_domains=True)
    except (ValueError, UnicodeError):  # IDNA encoding of odd labels
        return None
    if not parts.suffix:
        return None
    if parts.is_private:
        root = parts.suffix
    elif parts.domain:
        root = f"{parts.domain}.{parts.suffix}"
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
