"""The tabletop scene: a MuJoCo world with a cube, a green target square and a gripper, rendered
headless. Physics is MuJoCo's (the cube falls, slides and settles); the gripper is a motion-capture
body moved in straight lines, and a grasp holds the cube rigidly below it while it is closed.
That keeps the task about seeing and pointing, not about contact dynamics.

Coordinates are metres: the table top is the plane z = 0, x to the right, y away from the robot.

The OpenGL backend is MuJoCo's to pick, from ``MUJOCO_GL`` as the caller set it (``egl`` on a GPU,
``osmesa`` in software with ``PYOPENGL_PLATFORM=osmesa``; unset: a window system's GLFW). This
module never writes ``os.environ``: a library that did would change the backend for everything
else in the caller's process, and for the processes it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CUBE_HALF = 0.02
"""Half the cube's side, metres."""
TARGET_CENTRE = (0.15, 0.10)
TARGET_HALF = 0.05
"""The target square on the table: its centre and half its side, metres."""
REACH = 0.35
"""How far from the table centre the gripper reaches, in x and y."""
TOP = 0.5
"""How high above the table the gripper reaches."""
GRASP_RANGE = 0.03
"""A grasp holds the cube when the gripper tip is this close to it, in x, y and height."""
STEPS_PER_METRE = 400
"""Physics steps (2 ms each) per metre of gripper travel: 0.8 s of simulated time per metre."""

_XML = f"""
<mujoco model="vlagent tabletop">
  <option timestep="0.002"/>
  <visual><global offwidth="640" offheight="480"/><quality shadowsize="0"/></visual>
  <asset>
    <texture name="wood" type="2d" builtin="checker" rgb1=".62 .52 .40" rgb2=".58 .48 .37"
             width="64" height="64"/>
    <material name="table" texture="wood" texrepeat="6 6"/>
  </asset>
  <worldbody>
    <light pos="0 -0.3 1.2" dir="0 0.25 -1" directional="true" diffuse=".55 .55 .55" ambient=".25 .25 .25"/>
    <geom name="table" type="plane" size="0.45 0.45 0.01" material="table"/>
    <geom name="target" type="box" pos="{TARGET_CENTRE[0]} {TARGET_CENTRE[1]} 0.0005"
          size="{TARGET_HALF} {TARGET_HALF} 0.0005" rgba=".15 .7 .25 1" contype="0" conaffinity="0"/>
    <body name="cube" pos="0 0 {CUBE_HALF}">
      <freejoint name="cube"/>
      <geom type="box" size="{CUBE_HALF} {CUBE_HALF} {CUBE_HALF}" rgba=".85 .12 .12 1" mass="0.05"/>
    </body>
    <body name="gripper" mocap="true" pos="0 -0.2 0.25">
      <geom type="cylinder" pos="0 0 0.06" size="0.012 0.04" rgba=".25 .25 .3 1" contype="0" conaffinity="0"/>
      <geom type="box" pos="-0.018 0 0.012" size="0.004 0.012 0.012" rgba=".4 .4 .45 1" contype="0" conaffinity="0"/>
      <geom type="box" pos="0.018 0 0.012" size="0.004 0.012 0.012" rgba=".4 .4 .45 1" contype="0" conaffinity="0"/>
    </body>
    <camera name="front" pos="0 -0.75 0.55" xyaxes="1 0 0 0 0.6 0.8" fovy="50"/>
    <camera name="top" pos="0 0 0.95" xyaxes="1 0 0 0 1 0" fovy="45"/>
  </worldbody>
</mujoco>
"""


@dataclass(frozen=True)
class CameraImage:
    """One camera's picture: RGB (H×W×3 uint8) and depth (H×W float32, metres along the view
    axis)."""

    rgb: Any
    depth: Any | None


class Scene:
    """The simulated table. ``reset(seed)`` puts the cube somewhere left of the target."""

    def __init__(self, sizes: tuple[tuple[int, int], ...] = ()) -> None:
        """``sizes``: the image sizes to render, whose renderers are made now, so that a machine
        where MuJoCo cannot render says so here, not at the first picture."""
        import mujoco

        self._mj = mujoco
        self.model = mujoco.MjModel.from_xml_string(_XML)
        self.data = mujoco.MjData(self.model)
        self._renderers: dict[tuple[int, int], Any] = {}
        self._cube_joint = self.model.joint("cube").qposadr[0]
        self._cube_dof = self.model.joint("cube").dofadr[0]
        self.held = False
        self._offset = (0.0, 0.0, 0.0)
        try:
            for size in sizes:
                self._renderer(size)
        except BaseException:
            self.close()
            raise

    # -- state ---------------------------------------------------------------------------------

    def reset(self, seed: int) -> None:
        import numpy as np

        self._mj.mj_resetData(self.model, self.data)
        rng = np.random.default_rng(seed)
        x, y = rng.uniform(-0.22, -0.02), rng.uniform(-0.18, 0.12)
        self.data.qpos[self._cube_joint : self._cube_joint + 7] = [x, y, CUBE_HALF, 1, 0, 0, 0]
        self.data.mocap_pos[0] = [0.0, -0.2, 0.25]
        self.held = False
        self._mj.mj_forward(self.model, self.data)
        self._simulate(50)

    @property
    def gripper(self) -> tuple[float, float, float]:
        x, y, z = (float(v) for v in self.data.mocap_pos[0])
        return (x, y, z)

    @property
    def cube(self) -> tuple[float, float, float]:
        x, y, z = (float(v) for v in self.data.qpos[self._cube_joint : self._cube_joint + 3])
        return (x, y, z)

    def success(self) -> bool:
        """The cube rests on the table inside the target square, and the gripper has let go."""
        x, y, z = self.cube
        return (
            not self.held
            and abs(x - TARGET_CENTRE[0]) <= TARGET_HALF
            and abs(y - TARGET_CENTRE[1]) <= TARGET_HALF
            and z < CUBE_HALF * 1.5
        )

    # -- actions -------------------------------------------------------------------------------

    def move_to(self, target: tuple[float, float, float]) -> None:
        """Move the gripper tip to ``target`` in a straight line, the physics running meanwhile."""
        import numpy as np

        start = np.array(self.gripper)
        end = np.array(target)
        steps = max(10, int(np.linalg.norm(end - start) * STEPS_PER_METRE))
        for fraction in np.linspace(0.0, 1.0, steps)[1:]:
            self.data.mocap_pos[0] = start + (end - start) * fraction
            self._simulate(1)
        self._simulate(20)

    def grasp(self) -> bool:
        """Close the gripper; True when it now holds the cube."""
        gx, gy, gz = self.gripper
        cx, cy, cz = self.cube
        if max(abs(gx - cx), abs(gy - cy)) <= GRASP_RANGE and abs(gz - cz) <= GRASP_RANGE:
            self.held = True
            self._offset = (cx - gx, cy - gy, cz - gz)
        return self.held

    def release(self) -> None:
        """Open the gripper and let the cube fall and settle."""
        self.held = False
        self._simulate(400)

    def _simulate(self, steps: int) -> None:
        for _ in range(steps):
            if self.held:
                gx, gy, gz = self.gripper
                ox, oy, oz = self._offset
                self.data.qpos[self._cube_joint : self._cube_joint + 7] = [
                    gx + ox,
                    gy + oy,
                    gz + oz,
                    1,
                    0,
                    0,
                    0,
                ]
                self.data.qvel[self._cube_dof : self._cube_dof + 6] = 0
            self._mj.mj_step(self.model, self.data)

    # -- cameras -------------------------------------------------------------------------------

    def render(self, camera: str, size: tuple[int, int], depth: bool = False) -> CameraImage:
        renderer = self._renderer(size)
        renderer.update_scene(self.data, camera=camera)
        rgb = renderer.render().copy()
        far = None
        if depth:
            renderer.enable_depth_rendering()
            try:
                renderer.update_scene(self.data, camera=camera)
                far = renderer.render().copy()
            finally:
                renderer.disable_depth_rendering()
        return CameraImage(rgb, far)

    def unproject(
        self, camera: str, point: tuple[float, float], depth: Any
    ) -> tuple[float, float, float]:
        """The table-frame position seen at normalized ``point`` of ``camera``'s image, given
        that image's depth map: the pixel's ray from the camera, as far as the depth says."""
        import numpy as np

        height, width = depth.shape
        u = min(max(point[0] * width, 0.0), width - 1e-6)
        v = min(max(point[1] * height, 0.0), height - 1e-6)
        distance = float(depth[int(v), int(u)])
        cam = self.model.camera(camera)
        focal = (height / 2) / np.tan(np.radians(float(cam.fovy[0])) / 2)
        # Camera frame: x right, y up, looking down -z; depth is the distance along the view axis.
        local = np.array(
            [(u - width / 2) / focal * distance, -(v - height / 2) / focal * distance, -distance]
        )
        data_cam = self.data.camera(camera)
        world = np.asarray(data_cam.xpos) + np.asarray(data_cam.xmat).reshape(3, 3) @ local
        return (float(world[0]), float(world[1]), float(world[2]))

    def _renderer(self, size: tuple[int, int]) -> Any:
        renderer = self._renderers.get(size)
        if renderer is None:
            renderer = self._renderers[size] = self._mj.Renderer(
                self.model, height=size[1], width=size[0]
            )
        return renderer

    def close(self) -> None:
        """Free the renderers now: left to the interpreter's exit, OSMesa prints a ctypes error."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
