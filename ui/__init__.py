"""The dashboard's helpers: session state keys, cached engine calls, folium map builders."""
