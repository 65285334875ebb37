"""The geolocator's own Keras objects, registered as "dlkit>Name" (the names saved
models refer to; the shipped geolocator loads by them), and the great-circle distance in
TensorFlow that its loss is."""

import math

from dlkit.core.layers import register
from dlkit.core.runtime import keras, tf
from dlkit.tasks.geolocator.geometry import EARTH_RADIUS_KM


def great_circle_km(a, b):
    """Distance between the directions of vectors a and b (last axis x, y, z), in km.

    The textbook R·arccos(sin y1 sin z1 + cos y1 cos z1 cos δ) loses all precision for
    nearby points (arccos is flat at 1) and its gradient is infinite there. atan2(|a×b|, a·b)
    is the same angle, exact at every distance; the small constant under the square root
    keeps the gradient finite when the points coincide. Neither vector needs unit length.
    """
    a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    cross = tf.linalg.cross(a, b)
    sine = tf.sqrt(tf.reduce_sum(tf.square(cross), -1) + 1e-12)
    cosine = tf.reduce_sum(a * b, -1)
    return EARTH_RADIUS_KM * tf.atan2(sine, cosine)


def great_circle_km_degrees(lat1, lon1, lat2, lon2):
    """great_circle_km for (lat, lon) tensors in degrees."""
    def xyz(lat, lon):
        lat, lon = lat * (math.pi / 180), lon * (math.pi / 180)
        return tf.stack([tf.cos(lat) * tf.cos(lon), tf.cos(lat) * tf.sin(lon), tf.sin(lat)], -1)

    return great_circle_km(xyz(lat1, lon1), xyz(lat2, lon2))


@register
def great_circle_loss(y_true, y_pred):
    return great_circle_km(y_true, y_pred)


@register
def members_great_circle_loss(y_true, y_pred):
    """The mean over an ensemble's members (y_pred: batch, members, 3) of each one's own
    great-circle error: every member learns on its own, as if trained alone."""
    # the cross product in great_circle_km needs equal shapes
    y_true = tf.broadcast_to(tf.expand_dims(tf.cast(y_true, y_pred.dtype), 1), tf.shape(y_pred))
    return tf.reduce_mean(great_circle_km(y_true, y_pred), -1)


def members_place_loss(place_loss_km: float):
    """members_great_circle_loss plus `place_loss_km` km per nat of each member's
    cross-entropy against the places near the label. y_pred: (batch, members, 3 + points)
    each member's point and its log-probabilities over candidates and cells (PlaceLogits);
    y_true: (batch, 3 + points) the label's point and the share of each point among those
    within reach of it (all 0 where none is: then only the distance counts)."""
    def loss(y_true, y_pred):
        y_true = tf.cast(y_true, y_pred.dtype)
        distance = members_great_circle_loss(y_true[:, :3], y_pred[..., :3])
        cross_entropy = -tf.reduce_sum(y_true[:, None, 3:] * y_pred[..., 3:], -1)
        return distance + place_loss_km * tf.reduce_mean(cross_entropy, -1)
    return loss


def scores(candidate_logits, mask, cell_logits):
    """One row of logits over a text's candidates (none where the mask is 0) and the cells:
    what ExpectedPoint's softmax and an ensemble's mixture are taken over."""
    candidate_logits, mask, cell_logits = (tf.cast(x, tf.float32) for x in (candidate_logits, mask, cell_logits))
    return tf.concat([tf.where(mask > 0, candidate_logits, -1e9), cell_logits], -1)


@register
class MixtureLogits(keras.layers.Layer):
    """An ensemble's members as one distribution: from each member's candidate logits and
    cell logits, the log of the members' mean probabilities, split back into candidate and
    cell logits (so ExpectedPoint and the decoding read them as one model's)."""

    def call(self, inputs):
        candidates, mask, cells = inputs
        logits = tf.stack([scores(c, mask, g) for c, g in zip(candidates, cells)], 0)
        mixed = tf.reduce_logsumexp(tf.nn.log_softmax(logits, -1), 0) - math.log(len(candidates))
        size = tf.shape(mask)[-1]
        return mixed[:, :size], mixed[:, size:]

    def compute_output_shape(self, input_shape):
        candidates, _, cells = input_shape
        return candidates[0], cells[0]


@register
class PlaceLogits(keras.layers.Layer):
    """A member's log-probabilities over its candidates and the cells (what the place loss
    reads while training; saved models have none)."""

    def call(self, inputs):
        return tf.nn.log_softmax(scores(*inputs), -1)

    def compute_output_shape(self, input_shape):
        candidates, _, cells = input_shape
        return (candidates[0], candidates[-1] + cells[-1])


@register
class ExpectedPoint(keras.layers.Layer):
    """Softmax over the candidate points (masked) and the fixed cells; returns the weighted
    mean point pushed onto the unit sphere."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        self.cells = [[float(v) for v in cell] for cell in cells]

    def call(self, inputs):
        candidate_logits, mask, points, cell_logits = (tf.cast(x, tf.float32) for x in inputs)
        weights = tf.nn.softmax(scores(candidate_logits, mask, cell_logits), -1)
        cells = tf.broadcast_to(tf.constant(self.cells, tf.float32)[None], [tf.shape(points)[0], len(self.cells), 3])
        mean = tf.reduce_sum(weights[..., None] * tf.concat([points, cells], 1), 1)
        return mean / tf.sqrt(tf.reduce_sum(tf.square(mean), -1, keepdims=True) + 1e-12)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 3)

    def get_config(self):
        return {**super().get_config(), "cells": self.cells}

