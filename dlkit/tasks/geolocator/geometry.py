"""Points on the Earth: degrees <-> unit vectors, great-circle distances, central points
and the usual error metrics. numpy only (the TensorFlow distance the model trains on is
in layers.py)."""

import numpy as np

EARTH_RADIUS_KM = 6371.0
# The usual geolocation accuracy threshold: 100 miles.
ACCURACY_KM = 161.0


def to_xyz(lat, lon) -> np.ndarray:
    """Degrees to points on the unit sphere (last axis x, y, z)."""
    lat, lon = np.radians(np.asarray(lat, np.float64)), np.radians(np.asarray(lon, np.float64))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def to_latlon(xyz) -> np.ndarray:
    """Points (any length, not zero) to degrees (last axis lat, lon)."""
    xyz = np.asarray(xyz, np.float64)
    lat = np.degrees(np.arctan2(xyz[..., 2], np.hypot(xyz[..., 0], xyz[..., 1])))
    lon = np.degrees(np.arctan2(xyz[..., 1], xyz[..., 0]))
    return np.stack([lat, lon], -1)


def distance_km(a, b) -> np.ndarray:
    """Great-circle distance between (lat, lon) arrays in degrees (haversine)."""
    a, b = np.radians(np.asarray(a, np.float64)), np.radians(np.asarray(b, np.float64))
    h = (np.sin((b[..., 0] - a[..., 0]) / 2) ** 2
         + np.cos(a[..., 0]) * np.cos(b[..., 0]) * np.sin((b[..., 1] - a[..., 1]) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def centroid(points) -> np.ndarray:
    """The (lat, lon) of the mean direction of `points`."""
    return to_latlon(to_xyz(*np.asarray(points).T).mean(0))


def geometric_median(points, iterations: int = 200) -> np.ndarray:
    """The point with the least total great-circle distance to `points` (Weiszfeld's
    iteration on the sphere): what a constant prediction should be for the median error."""
    xyz = to_xyz(*np.asarray(points).T)
    guess = xyz.mean(0)
    guess /= np.linalg.norm(guess)
    for _ in range(iterations):
        angles = np.arccos(np.clip(xyz @ guess, -1, 1))
        weights = 1 / np.maximum(angles, 1e-9)
        guess = (weights[:, None] * xyz).sum(0)
        guess /= np.linalg.norm(guess)
    return to_latlon(guess)


def metrics(predicted, true) -> dict:
    """mean_km, median_km and acc_at_161km of predictions against truth (both lat, lon)."""
    km = distance_km(predicted, true)
    return {"mean_km": round(float(km.mean()), 1), "median_km": round(float(np.median(km)), 1),
            "acc_at_161km": round(float((km <= ACCURACY_KM).mean()), 4), "count": int(len(km))}

