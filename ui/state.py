"""Every session-state key and widget key of the dashboard, defined once."""

# One-line notice shown once on the next page run (e.g. after an upload is confirmed).
NOTICE = "notice"

# The session's language (the sidebar's picker; a code of geo.i18n.SUPPORTED_LANGUAGES), and
# the URL query parameter that carries it (?lang=fr).
LANGUAGE = "language"
LANGUAGE_QUERY = "lang"

# Sidebar filters and options (widget keys; read through ui.data.current_filters).
FILTER_HOLDERS = "filter_holders"
FILTER_LIC_TYPES = "filter_lic_types"
FILTER_STATUSES = "filter_statuses"
FILTER_PROVINCES = "filter_provinces"
FILTER_GOLD = "filter_gold"
FILTER_YEARS = "filter_years"
OPTION_RINGS = "option_rings"
OPTION_RADIUS = "option_radius"

# Map page.
MAP_WIDGET = "map_widget"
MAP_SHOW_RINGS = "map_show_rings"
MAP_BASEMAP = "map_basemap"
SELECTED_CONCESSION = "selected_concession"
MAP_PICK = "map_pick"
MAP_LAST_CLICK = "map_last_click"

# Statistics page.
STATS_TABLE = "stats_table"
STATS_SEARCH = "stats_search"
STATS_YEAR_MEASURE = "stats_year_measure"

# Upload page.
UPLOAD_KIND = "upload_kind"
UPLOAD_FILE = "upload_file"
# Bumped after a confirmed upload so the file uploader starts empty.
UPLOAD_ROUND = "upload_round"
UPLOAD_CRS = "upload_crs"
UPLOAD_MODE = "upload_mode"
UPLOAD_CONFIRM = "upload_confirm"
UPLOAD_MAPPING_PREFIX = "upload_map_"
# History panel.
# Version list; the key ends with the newest version number (see ui.history).
HISTORY_VERSION = "history_version"
HISTORY_ROLLBACK = "history_rollback"

# Export page.
EXPORT_PREFIX = "export_"

# Concession dossier page.

# In-migration page.

# Companies and provinces page.

# Formalisation page.

# Closure planning page.

# Due diligence page.

# Set-aside scenario page.
