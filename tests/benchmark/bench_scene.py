"""A tiny analytic scene for pair tests: a wall 4 m ahead and a square panel 2 m ahead, seen by cameras that
differ by a sideways translation. Depth is computed in closed form, so every expectation is exact."""

import numpy as np

from training.data.frame import Frame, FrameSequence

H, W, F = 48, 64, 60.0
WALL_Z, PANEL_Z, PANEL_HALF = 4.0, 2.0, 0.5


def analytic_frame(tx: float, frame_id: str) -> Frame:
    K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]], np.float32)
    v, u = np.mgrid[:H, :W].astype(np.float64)
    x_dir, y_dir = (u - K[0, 2]) / F, (v - K[1, 2]) / F
    on_panel = (np.abs(x_dir * PANEL_Z + tx) <= PANEL_HALF) & (np.abs(y_dir * PANEL_Z) <= PANEL_HALF)
    depth = np.where(on_panel, PANEL_Z, WALL_Z).astype(np.float32)
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = np.where(on_panel, 200, 60)
    pose = np.eye(4, dtype=np.float32)
    pose[0, 3] = tx
    return Frame(image=image, depth=depth, K=K, cam_to_world=pose, scene_id="wall", frame_id=frame_id)


class AnalyticReader:
    """One scene of cameras at x = 0, 0.1, ..., 0.9 m; counts frame decodes."""

    def __init__(self, n: int = 10, step: float = 0.1) -> None:
        self.offsets = [i * step for i in range(n)]
        self.loads = 0

    def scene_ids(self):
        return ["wall"]

    def frames(self, scene_id):
        def load(fid):
            self.loads += 1
            return analytic_frame(self.offsets[int(fid)], fid)

        return FrameSequence([str(i) for i in range(len(self.offsets))], load)
