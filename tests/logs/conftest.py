"""The paging fixtures (a real HTTP receiver and SMTP server behind every contact, the app wired
to them), shared with tests/paging."""

from tests.paging.conftest import (  # noqa: F401  (fixtures, found by name)
    oncall_person,
    oncall_rules_dir,
    paging_client,
    paging_settings,
    receiver,
    smtp,
)
