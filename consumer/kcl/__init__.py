"""Everything about the KCL MultiLangDaemon: its properties, its supervision, and the per-shard processor."""
