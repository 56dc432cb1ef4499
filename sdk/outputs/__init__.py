"""Where results go: pictures (:mod:`~mutualsense.outputs.visualize`), the live web page
(:mod:`~mutualsense.outputs.viewer`), the results messages (:mod:`~mutualsense.outputs.messages`)
and their Zenoh publisher (:mod:`~mutualsense.outputs.publish`).

Import the module you need; this package imports nothing itself (zenoh and the HTTP server load
only when used).
"""
