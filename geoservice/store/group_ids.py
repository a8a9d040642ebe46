"""Named queries for the peer-group id registry: read it, and record this run's ids in one transaction. How groups
are matched to ids is ``network/identity.py``'s; this module only reads and writes the rows. ``Store`` inherits
these methods."""

from __future__ import annotations

import json

from sqlalchemy import select, text


class GroupIdQueries:
    """Mixed into ``Store``: ``self.metadata``, ``self.engine`` and ``self.writing()`` come from it."""

    def group_registry(self, conn=None) -> list[dict]:
        """Every peer-group id with its latest members (keyed pseudonyms), first and last seen, and note."""
        table = self.metadata.tables["peer_group_ids"]
        query = select(table).order_by(table.c.group_id)
        if conn is not None:
            rows = conn.execute(query).mappings().all()
        else:
            with self.engine.connect() as own:
                rows = own.execute(query).mappings().all()
        return [{**dict(r), "members": json.loads(r["members"])} for r in rows]

    def record_group_ids(self, assign) -> list:
        """Run ``assign(registry) -> (result, changes)`` inside one write transaction (so two runs at once do not
        hand out the same id), then store ``changes``: {group_id: {members, first_seen, last_seen, note}}."""
        table = self.metadata.tables["peer_group_ids"]
        with self.writing() as conn:
            if self.is_postgres:
                conn.execute(text("LOCK TABLE peer_group_ids IN EXCLUSIVE MODE"))
            result, changes = assign(self.group_registry(conn))
            for group_id, row in changes.items():
                values = {**row, "members": json.dumps(sorted(row["members"]))}
                updated = conn.execute(table.update().where(table.c.group_id == group_id).values(**values)).rowcount
                if not updated:
                    conn.execute(table.insert().values(group_id=group_id, **values))
        return result
