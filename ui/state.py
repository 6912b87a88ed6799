"""Every session-state key and widget key of the dashboard, defined once."""

# One-line notice shown once on the next page run (e.g. after an upload is confirmed).
NOTICE = "notice"
# The layers' current versions as this run read them (ui.data.workspace; emptied as each
# run starts, and by an upload).
RUN_VERSIONS = "run_versions"

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
# The last point clicked on the map (a title drawn in an image is selected by its point).
MAP_LAST_POINT = "map_last_point"
# What the map shown is of (analysis, selection, options): the view st_folium last
# reported (under MAP_WIDGET) belongs to that map only.
MAP_VIEW_OF = "map_view_of"

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
# (file digest, kind, column choices) of a file read with the columns the import guessed:
# the same choices on the next run read nothing again.
UPLOAD_GUESSED = "upload_guessed"
# History panel.
# Version list; the key ends with the newest version number (see ui.history).
HISTORY_VERSION = "history_version"
HISTORY_ROLLBACK = "history_rollback"

# Export page.
EXPORT_PREFIX = "export_"

# Cluster runs of a workspace too large for in-process work (ui/cluster.py, on the Overview).
CLUSTER_START = "cluster_start"
CLUSTER_DOWNLOAD = "cluster_download"

# Concession dossier page.
# The title shown (a select box; it follows SELECTED_CONCESSION, the Map page's selection).
DOSSIER_PICK = "dossier_pick"
DOSSIER_MAP = "dossier_map"
DOSSIER_YEAR_MEASURE = "dossier_year_measure"
DOSSIER_DOWNLOAD_HTML = "dossier_download_html"
DOSSIER_DOWNLOAD_PDF = "dossier_download_pdf"

# In-migration page.
INMIGRATION_CONCESSION = "inmigration_concession"
INMIGRATION_MEASURE = "inmigration_measure"
INMIGRATION_WINDOW = "inmigration_window"
# Download buttons: the prefix, then the table and the format.
INMIGRATION_DOWNLOAD_PREFIX = "inmigration_download_"

# Companies and provinces page.
INDICATORS_BY = "indicators_by"
INDICATORS_RECENT_YEARS = "indicators_recent_years"
INDICATORS_SEARCH = "indicators_search"
INDICATORS_CHART = "indicators_chart"
INDICATORS_DOWNLOAD_PREFIX = "indicators_download_"

# Formalisation page.
FORMALISATION_DISTANCE = "formalisation_distance"
FORMALISATION_ZONES = "formalisation_zones"
FORMALISATION_CATEGORIES = "formalisation_categories"
FORMALISATION_MEASURE = "formalisation_measure"
FORMALISATION_SEARCH = "formalisation_search"
FORMALISATION_MAP = "formalisation_map"
FORMALISATION_DOWNLOAD_PREFIX = "formalisation_download_"

# Closure planning page.
CLOSURE_YEARS = "closure_years"
CLOSURE_AS_OF = "closure_as_of"
CLOSURE_NEAR_KM = "closure_near_km"
CLOSURE_EXPIRED = "closure_expired"
CLOSURE_SEARCH = "closure_search"
CLOSURE_MAP = "closure_map"
CLOSURE_DOWNLOAD_PREFIX = "closure_download_"

# Due diligence page.
DILIGENCE_VIEW = "diligence_view"
DILIGENCE_WITH_SITES = "diligence_with_sites"
DILIGENCE_SEARCH = "diligence_search"
DILIGENCE_PICK = "diligence_pick"
DILIGENCE_DOWNLOAD_PREFIX = "diligence_download_"

# Set-aside scenario page.
SETASIDE_CONCESSION = "setaside_concession"
# Toggle: cede from every title the area covers (off: from the chosen concession only).
SETASIDE_EVERY = "setaside_every"
SETASIDE_MAP = "setaside_map"
SETASIDE_PASTE = "setaside_paste"
SETASIDE_APPLY = "setaside_apply"
SETASIDE_CLEAR = "setaside_clear"
# Why the pasted GeoJSON was refused, shown once on the next run.
SETASIDE_PASTE_ERROR = "setaside_paste_error"
# The scenario's area, a GeoJSON geometry (this session only; nothing is stored).
SETASIDE_AREA = "setaside_area"
# Download buttons: the prefix, then the format.
SETASIDE_DOWNLOAD_PREFIX = "setaside_download_"
