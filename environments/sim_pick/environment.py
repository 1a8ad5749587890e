"""The pick-and-place environment: two cameras (``front`` with depth, ``top`` with depth), the
gripper's state, and four tools whose handlers drive the scene: ``move_to`` (a point on a camera
image, or a position in metres), ``grasp``, ``release`` and ``finish``, which the simulator, not
the model, judges (docs/environments.md)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlagent.environments.base import ActionResult, Environment, EnvironmentUnavailable, Observation
from vlagent.environments.sim_pick.scene import REACH, TOP
from vlagent.tools import Point, RunEnd, ToolSet

CAMERAS: dict[str, tuple[int, int]] = {"front": (480, 360), "top": (320, 320)}
"""Each camera's image size (width, height)."""

Camera = Literal["front", "top"]
Across = Annotated[float, Field(ge=-REACH, le=REACH)]
Up = Annotated[float, Field(ge=0.0, le=TOP)]
Position = tuple[Across, Across, Up]
"""Where the arm reaches, in the schema (models, constrained decoding and Gymnasium read it
there): x and y within ±REACH of the table centre, z from the table top to TOP."""


class MoveTo(BaseModel):
    """Move the gripper. Either give `point` on a camera image together with `camera`: the gripper
    goes to the surface seen at that point, raised by `height`; or give `position` [x, y, z] in
    metres (x to the right, y away from the robot, z up from the table top; the table centre is
    [0, 0, 0])."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tool_name: ClassVar[str] = "move_to"

    camera: Camera | None = Field(default=None, description="The camera image `point` is on.")
    point: Point | None = Field(default=None, description="[x, y] on the camera image.")
    position: Position | None = Field(
        default=None,
        description=f"[x, y, z] in metres: x and y within ±{REACH}, z from 0 to {TOP}.",
    )
    height: float = Field(
        default=0.0, ge=0.0, le=0.4, description="Metres above the surface at `point`."
    )

    @model_validator(mode="after")
    def _one_target(self) -> MoveTo:
        if (self.point is None) == (self.position is None):
            raise ValueError(
                "give either 'point' (with 'camera') or 'position', not both or neither"
            )
        if self.point is not None and self.camera is None:
            raise ValueError("'point' needs 'camera': the image the point is on")
        return self


class Grasp(BaseModel):
    """Close the gripper: it holds the cube when its tip is at the cube."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tool_name: ClassVar[str] = "grasp"


class Release(BaseModel):
    """Open the gripper: a held cube drops."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tool_name: ClassVar[str] = "release"


class Finish(BaseModel):
    """Say the task is over: `success` when the cube is on the green square, `failure` when it
    cannot be done. The simulator checks the claim."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tool_name: ClassVar[str] = "finish"

    status: Literal["success", "failure"]


class SimPickEnvironment(Environment):
    """A tabletop with a red cube and a green target square. ``seed`` places the cube."""

    name = "sim-pick"
    GOAL = "Put the red cube on the green square"

    def __init__(self, seed: int = 0) -> None:
        _check_seed(seed)  # before MuJoCo's renderers exist: nothing to close on the way out
        try:
            from vlagent.environments.sim_pick.scene import Scene

            self.scene = Scene(tuple(CAMERAS.values()))
        except ImportError as exc:
            raise EnvironmentUnavailable(
                f"sim-pick needs MuJoCo ({exc}); install it with pip install 'vlagent[sim]'"
            ) from None
        except Exception as exc:  # MuJoCo's own errors: no OSMesa, no GL, no display
            raise EnvironmentUnavailable(
                f"MuJoCo cannot render here ({type(exc).__name__}: {str(exc)[:120]}); choose its "
                "backend before starting Python: MUJOCO_GL=egl (a GPU), or MUJOCO_GL=osmesa "
                "PYOPENGL_PLATFORM=osmesa (software; apt-get install libosmesa6)"
            ) from None
        self.reach = REACH
        self.seed = seed
        self._depth: dict[str, Any] = {}
        self._closed = False
        self._tools = pick_tools(self)
        self.reset(seed)

    @property
    def toolset(self) -> ToolSet:
        return self._tools

    def reset(self, seed: int | None = None) -> None:
        """Put the cube back somewhere new (``seed``) and the gripper up, open."""
        self.seed = self.seed if seed is None else _check_seed(seed)
        self.scene.reset(self.seed)
        self._depth = {}

    def observe(self) -> Observation:
        images, depth = {}, {}
        for camera, size in CAMERAS.items():
            picture = self.scene.render(camera, size, depth=True)
            images[camera], depth[camera] = picture.rgb, picture.depth
        self._depth = depth
        front = images.pop("front")
        return Observation(
            image=front,
            name="front",
            views=images,
            depth=depth,
            state=self.state(),
            surface="camera image",
        )

    def state_bounds(self) -> dict[str, tuple[list[float], list[float]]]:
        """The least and most each value of :meth:`state` can be (``to_gym`` makes its
        observation space from them): the gripper within reach, closed as 0 or 1."""
        return {
            "gripper_position_m": ([-REACH, -REACH, 0.0], [REACH, REACH, TOP]),
            "gripper_closed": ([0.0], [1.0]),
        }

    def state(self) -> dict[str, Any]:
        """What the arm knows of itself: its tip position and whether it is closed on the cube."""
        return {"gripper_position_m": list(self.scene.gripper), "gripper_closed": self.scene.held}

    # -- the handlers --------------------------------------------------------------------------

    def move_to(self, action: MoveTo) -> ActionResult:
        if action.position is not None:
            target = action.position
        else:
            assert action.point is not None and action.camera is not None
            if action.camera not in self._depth:
                self.observe()
            x, y, z = self.scene.unproject(action.camera, action.point, self._depth[action.camera])
            target = (x, y, z + action.height)
        x, y, z = target
        if max(abs(x), abs(y)) > self.reach or not 0.0 <= z <= TOP:
            # A position is bounded by its schema; a point's surface, raised, can still be far.
            return ActionResult(
                ok=False,
                executed=False,
                message=(
                    f"[{x:.3f}, {y:.3f}, {z:.3f}] m is out of reach: x and y within ±{self.reach} "
                    f"m, z from 0 to {TOP} m"
                ),
            )
        self.scene.move_to((x, y, max(z, 0.0)))
        return ActionResult(
            message=f"the gripper is at [{x:.3f}, {y:.3f}, {z:.3f}] m",
            data={"target_m": [round(v, 4) for v in target]},
        )

    def grasp(self, action: Grasp) -> ActionResult:
        if self.scene.grasp():
            return ActionResult(message="the gripper holds the cube")
        return ActionResult(ok=False, message="closed on nothing: move the tip onto the cube first")

    def release(self, action: Release) -> ActionResult:
        self.scene.release()
        return ActionResult(message="the gripper is open")

    def finish(self, action: Finish) -> ActionResult:
        done = self.scene.success()
        cube = [round(v, 4) for v in self.scene.cube]
        verdict = "the cube is on the target" if done else "the cube is not on the target"
        status: Literal["success", "failure"] = "success" if done else "failure"
        return ActionResult(
            executed=False,
            message=f"the simulator says {verdict}",
            data={"success": done, "cube_m": cube, "claimed": action.status},
            ends=RunEnd(status=status),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "cameras": {k: list(v) for k, v in CAMERAS.items()},
            "simulator": "mujoco",
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.scene.close()


def pick_tools(env: SimPickEnvironment) -> ToolSet:
    """The arm's tools, each with its handler on ``env``."""
    tools = ToolSet()
    tools.register(MoveTo, handler=env.move_to)
    tools.register(Grasp, handler=env.grasp)
    tools.register(Release, handler=env.release)
    tools.register(Finish, handler=env.finish)
    return tools


def _check_seed(seed: int) -> int:
    if seed < 0:
        raise ValueError(f"seed {seed}: a seed is 0 or more (it picks where the cube starts)")
    return seed
