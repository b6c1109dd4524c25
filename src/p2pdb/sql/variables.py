"""System variables as MySQL clients expect to read and set them.

Sessions start from :data:`DEFAULTS` and the node's global values; ``SET [SESSION] name = value``
changes the session's copy, ``SET GLOBAL name = value`` the value new sessions start with (and, unlike
MySQL, the current session's too).
Values mirror MySQL 8.0 where P2PDB has nothing of its own to say.
"""

from __future__ import annotations

import re
from typing import Any

from p2pdb.sql.functions import MYSQL_VERSION

DEFAULTS: dict[str, Any] = {
    "autocommit": 1,
    "auto_increment_increment": 1,
    "auto_increment_offset": 1,
    "character_set_client": "utf8mb4",
    "character_set_connection": "utf8mb4",
    "character_set_database": "utf8mb4",
    "character_set_results": "utf8mb4",
    "character_set_server": "utf8mb4",
    "character_set_system": "utf8mb3",
    "collation_connection": "utf8mb4_general_ci",
    "collation_database": "utf8mb4_general_ci",
    "collation_server": "utf8mb4_general_ci",
    "default_storage_engine": "InnoDB",
    "foreign_key_checks": 1,
    # YES when the listener offers TLS (SQLBackend.enable_tls), as MySQL built with TLS but not set up.
    "have_ssl": "DISABLED",
    "have_openssl": "DISABLED",
    "ssl_ca": "",
    "ssl_cert": "",
    "ssl_key": "",
    "require_secure_transport": "OFF",
    "init_connect": "",
    "interactive_timeout": 28800,
    "license": "Apache-2.0",
    "local_infile": "ON",  # LOAD DATA LOCAL INFILE (p2pdb.sql.load_data)
    "lower_case_table_names": 0,
    "secure_file_priv": None,  # no server files are read or written
    "max_allowed_packet": 67108864,
    "max_connections": 10000,
    "max_execution_time": 0,
    "net_buffer_length": 16384,
    "net_read_timeout": 30,
    "net_write_timeout": 60,
    "performance_schema": 0,
    "query_cache_size": 0,
    "query_cache_type": "OFF",
    "sql_auto_is_null": 0,
    "sql_mode": "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
    "sql_safe_updates": 0,
    "sql_quote_show_create": 1,
    "sql_notes": 1,
    "sql_warnings": 0,
    "sql_log_bin": 1,
    "sql_big_selects": 1,
    "big_tables": 0,
    "explicit_defaults_for_timestamp": 1,
    "old_alter_table": 0,
    "innodb_stats_on_metadata": 0,
    "information_schema_stats_expiry": 86400,
    "gtid_mode": "OFF",
    "character_set_filesystem": "binary",
    "sql_select_limit": 18446744073709551615,
    "storage_engine": "InnoDB",
    "system_time_zone": "UTC",
    "time_zone": "SYSTEM",
    "transaction_isolation": "REPEATABLE-READ",
    "transaction_read_only": 0,
    "tx_isolation": "REPEATABLE-READ",
    "tx_read_only": 0,
    "unique_checks": 1,
    "version": MYSQL_VERSION,
    "version_comment": "P2PDB peer-to-peer SQL database",
    "version_compile_machine": "x86_64",
    "version_compile_os": "Linux",
    "wait_timeout": 28800,
    "default_authentication_plugin": "caching_sha2_password",
    "lc_messages": "en_US",
    "div_precision_increment": 4,
    "group_concat_max_len": 1024,
    "innodb_lock_wait_timeout": 50,
    "lock_wait_timeout": 31536000,
    "event_scheduler": "OFF",
    "log_bin": 0,
    "server_id": 1,
    "read_only": 0,
    "super_read_only": 0,
    "p2pdb_replicate_drop": 1,
    "cte_max_recursion_depth": 1000,
    # Statements that hold a database's writer run on the event loop: at most this many ms (0: none).
    "p2pdb_max_write_time": 5000,
    # Bytes of rows one statement may hold in memory before it is sent (0: none).
    "p2pdb_max_result_size": 256 * 1024 * 1024,
}

#: Integer variables checked on SET: name -> (minimum, maximum). Values outside are clamped, as MySQL
#: does; the p2pdb_* limits may not exceed the node's own setting (checked by the SET handler).
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "max_execution_time": (0, 4294967295),
    "cte_max_recursion_depth": (0, 4294967295),
    "p2pdb_max_write_time": (0, 4294967295),
    "p2pdb_max_result_size": (0, 2**63 - 1),
    "sql_select_limit": (0, 2**64 - 1),
}

_SCOPE = re.compile(r"^(?:@@)?(?:(global|session|local|persist|persist_only)[.\s]+)?", re.IGNORECASE)


def normalize_name(name: str) -> str:
    """``@@session.Autocommit`` → ``autocommit``."""
    return _SCOPE.sub("", name.strip()).strip("`").lower()


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().upper() in ("1", "ON", "TRUE", "YES")
    if isinstance(value, bytes):
        return as_bool(value.decode())
    return bool(value)


#: Variables MySQL shows as ON/OFF in SHOW VARIABLES (``SELECT @@autocommit`` is still 1).
SWITCHES = frozenset(
    ("autocommit", "foreign_key_checks", "unique_checks", "sql_auto_is_null", "sql_safe_updates",
     "sql_quote_show_create", "sql_notes", "sql_warnings", "sql_log_bin", "sql_big_selects", "big_tables",
     "explicit_defaults_for_timestamp", "old_alter_table", "innodb_stats_on_metadata", "transaction_read_only",
     "tx_read_only", "log_bin", "read_only", "super_read_only", "performance_schema")
)  # fmt: skip


def show_value(value: Any, name: str = "") -> str:
    """A variable's value as ``SHOW VARIABLES`` prints it (``name``: ON/OFF for a switch)."""
    if name in SWITCHES and isinstance(value, (int, str)):
        return "ON" if as_bool(value) else "OFF"
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
