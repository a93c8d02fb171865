"""feedback: answers in another script that were read as English are scored again

Until now a comment written mostly in another script (Cyrillic, Greek, Chinese, Arabic, ...)
was stored as English with sentiment 0 and never flagged nor sent to a person
(core.language). This migration clears the sentiment of every answer stored as English whose
comment has a letter beyond the Latin alphabets, so that the next `python -m core feedback
flag` (or the next feedback import) detects its language again and flags it or sends it to
Needs a read. Latin-script answers are not touched: they are read as before.

Revision ID: 0020_rescore_other_scripts
Revises: 0019_refund_of_cancelled
Create Date: 2026-12-02 06:00:00
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_rescore_other_scripts"
down_revision: str | None = "0019_refund_of_cancelled"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A letter beyond Latin, Latin-1, Latin Extended-A/B and the IPA extensions (U+0000 to U+02AF).
_BEYOND_LATIN = re.compile(r"[^\W\d_](?<![\x00-\u02af])")


def upgrade() -> None:
    conn = op.get_bind()
    feedback = sa.table("feedback", sa.column("id", sa.Integer), sa.column("comment", sa.Text),
                        sa.column("language", sa.String), sa.column("sentiment", sa.Float))
    # Streamed (the option on the statement only: on the connection it would outlive this read).
    rows = conn.execute(sa.select(feedback.c.id, feedback.c.comment)
                        .where(feedback.c.language == "en", feedback.c.comment.is_not(None))
                        .execution_options(stream_results=True, yield_per=10_000))
    ids = [int(i) for i, comment in rows if _BEYOND_LATIN.search(comment)]
    for start in range(0, len(ids), 5_000):
        conn.execute(sa.update(feedback).where(feedback.c.id.in_(ids[start:start + 5_000]))
                     .values(sentiment=None))


def downgrade() -> None:
    """Nothing to undo: the answers are scored again as they are."""
