"""Data tables of documents.py's generators (literals only: no logic lives here)."""

LD_ADJ = (
    "Amber",
    "Cobalt",
    "Silent",
    "Northern",
    "Crimson",
    "Hidden",
    "Golden",
    "Silver",
    "Frozen",
    "Iron",
    "Velvet",
    "Scarlet",
    "Distant",
    "Quiet",
    "Emerald",
    "Copper",
)


LD_NOUN = (
    "Falcon",
    "Harbor",
    "Lantern",
    "Orchard",
    "Summit",
    "Meridian",
    "Beacon",
    "Willow",
    "Quarry",
    "Atlas",
    "Heron",
    "Glacier",
    "Canyon",
    "Comet",
    "Juniper",
    "Tide",
)


LD_ATTRS = (
    "access code",
    "serial number",
    "room number",
    "backup passphrase",
    "reference number",
    "budget code",
    "emergency extension",
    "tracking code",
)


LD_WORDS = (
    "violet",
    "anchor",
    "maple",
    "quartz",
    "ember",
    "falcon",
    "copper",
    "meadow",
    "harbor",
    "tundra",
    "pepper",
    "saffron",
    "pillar",
    "ribbon",
)


RP_SUBJECTS = (
    "The logistics team",
    "Our regional office",
    "The finance department",
    "The support group",
    "Management",
    "The new scheduling system",
    "The procurement unit",
    "The quality team",
    "The facilities crew",
    "The data platform group",
    "The training coordinator",
    "The night shift",
    "The audit committee",
    "The sales team",
)


RP_PREDICATES = (
    "reviewed the supplier contracts",
    "reported a small increase in processing times",
    "completed the planned maintenance",
    "updated the onboarding checklist",
    "met the agreed service levels",
    "postponed the migration of the archive",
    "ran two workshops on safety procedures",
    "reduced the backlog of open tickets",
    "renegotiated the cleaning contract",
    "published a revised travel policy",
    "tested the new backup generator",
    "collected feedback from customers",
    "replaced the ageing network switches",
    "prepared the budget forecast",
    "documented the incident response steps",
    "hired two temporary assistants",
)


RP_TAILS = (
    "during the first week",
    "in the middle of the quarter",
    "ahead of schedule",
    "after a short delay",
    "as requested by the board",
    "without major issues",
    "before the audit",
    "in cooperation with external partners",
    "at the end of the month",
    "for the third time this year",
)


LOG_SERVICES = (
    "auth-service",
    "billing-worker",
    "api-gateway",
    "scheduler",
    "cache-node",
    "mailer",
    "search-indexer",
    "report-builder",
)


LOG_MESSAGES = (
    "processed batch {n} in {ms} ms",
    "cache hit ratio at {p}%",
    "retrying request {n} (attempt {a})",
    "user session refreshed for node-{a}",
    "queue depth {n}",
    "health check passed in {ms} ms",
    "rotated log file segment {n}",
    "connection pool at {p}% capacity",
    "slow query detected ({ms} ms)",
    "scheduled job {n} finished",
)
