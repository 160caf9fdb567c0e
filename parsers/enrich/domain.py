"""`registered_domain` / `top_level_domain` / `subdomain` as Elasticsearch's `registered_domain` processor.

tldextract runs offline on its bundled Public Suffix List snapshot (no fetch at run time).
"""

from __future__ import annotations

from functools import lru_cache

import tldextract

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


@lru_cache(maxsize=65536)
def registered_domain(fqdn: str) -> dict[str, str] | None:
    """{domain, registered_domain, top_level_domain, subdomain} (only the parts that exist), or None."""
    host = fqdn.rstrip(".").lower() if fqdn else ""
    if not host:
        return None
    parts = _EXTRACT(host)
    if not parts.suffix or not parts.domain:
        return None
    out = {"domain": host, "registered_domain": f"{parts.domain}.{parts.suffix}", "top_level_domain": parts.suffix}
    if parts.subdomain:
        out["subdomain"] = parts.subdomain
    return out
