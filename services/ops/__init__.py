"""The operator's tooling: the `kizuna` CLI, the local stack and the demo.

It may import every service; no Lambda ships it (the build copies the four service folders
only), and `shared` never imports it.
"""
