"""Routes that show what a database's merges decided: conflict records, rejected entries, access
rules (read from the store on request; each is small: records, rejections and rules, not rows)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from p2pdb.acl import ANYONE
from p2pdb.http.auth import database
from p2pdb.log import peer_id
from p2pdb.store.conflicts import record_json


class InspectRoutes:
    def __init__(self, node: Any) -> None:
        self.node = node

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/conflicts/{db}", self.conflicts),
            web.get("/v1/rejected/{db}", self.rejected),
            web.get("/v1/acl/{db}", self.acl),
        ]

    async def conflicts(self, request: web.Request) -> web.Response:
        """What merges discarded or hid (``information_schema.P2PDB_CONFLICTS``, one database)."""
        db = database(self.node, request.match_info["db"])
        records = [
            {**record.to_json(), "key": record_json(record.key), "lost": record_json(record.lost)}
            for record in db.shown_conflicts()
        ]
        return web.json_response({"db": db.name, "conflicts": records})

    async def rejected(self, request: web.Request) -> web.Response:
        """Entries whose ops every replica refuses (the same set everywhere), with the reason."""
        db = database(self.node, request.match_info["db"])
        rows = [{"cid": str(cid), "reason": reason} for cid, reason in db.rejected()]
        return web.json_response({"db": db.name, "rejected": rows})

    async def acl(self, request: web.Request) -> web.Response:
        """The access rules at the database's heads: owners, grants, encryption readers."""
        db = database(self.node, request.match_info["db"])
        acl = db.access.current()

        def who(key: bytes | str) -> str:
            return ANYONE if isinstance(key, str) else peer_id(key)

        grants = sorted(
            (
                {"peer": who(principal), "table": table, "column": column, "privilege": privilege}
                for principal, table, column, privilege in acl.held
            ),
            key=lambda g: (g["peer"], g["table"] or "", g["column"] or "", g["privilege"]),
        )
        return web.json_response(
            {
                "db": db.name,
                "controlled": acl.controlled,
                "owners": sorted(peer_id(k) for k in acl.owners),
                "grants": grants,
                "encrypted": acl.key_id is not None,
                "readers": sorted(peer_id(k) for k in acl.readers),
            }
        )
