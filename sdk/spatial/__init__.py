"""Results a robot can act on: salient objects in 3D, stable identities, point clouds.

- :mod:`~mutualsense.spatial.objects3d`: an object's position, extent, valid-depth share and points in
  metres from its mask and the aligned depth; the camera-to-robot transform.
- :mod:`~mutualsense.spatial.tracking`: track ids and velocities, gated in 3D.
- :mod:`~mutualsense.spatial.smoothing`: optional temporal smoothing of the saliency map.
- :mod:`~mutualsense.spatial.step`: the stream's per-source 3D step that ties them together.

Import the module you need; this package imports nothing itself.
"""
