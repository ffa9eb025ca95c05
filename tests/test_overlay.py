"""viewer.runs.overlay: landmarks over the camera image, letterboxing, status cards."""
import time

import numpy as np
import pytest

from viewer.runs.overlay import draw_landmarks, fit_into, status_card

HEIGHT, WIDTH = 240, 320


def background() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), 100, np.uint8)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that differ."""
    return (before != after).any(axis=2)


def near(points: np.ndarray, distance: float) -> np.ndarray:
    """(H, W) bool: pixel centres within `distance` of a point."""
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for x, y in points[:, :2]:
        mask |= np.hypot(xs - x, ys - y) <= distance
    return mask


def test_dots_are_drawn_on_the_landmarks_and_nowhere_else():
    image = background()
    landmarks = np.array([[50, 60, -3.0], [200.5, 100.25, 1.0], [300, 30, 0.0], [160, 200, 2.0]])  # x, y, z
    output = draw_landmarks(image, landmarks)
    assert output.shape == image.shape and output.dtype == np.uint8
    assert output is not image and (image == 100).all()  # a copy; the input is unchanged
    for x, y, _ in landmarks:
        pixel = output[round(y), round(x)].astype(int)
        assert pixel[1] > 200 and pixel[0] < 60 and pixel[2] < 60  # green on the point
    difference = changed(image, output)
    assert not (difference & ~near(landmarks, 2.5)).any()  # nothing changed away from the dots
    assert difference[near(landmarks, 0.5)].all()
    assert difference.sum() < 4 * 20  # small dots


def test_fitted_points_are_magenta_over_the_detected_ones():
    image = background()
    landmarks = np.array([[40.0, 40.0], [100.0, 120.0]])
    fitted = np.array([[41.0, 40.0], [250.0, 180.0]])
    output = draw_landmarks(image, landmarks, fitted)
    for x, y in fitted:
        red, green, blue = output[round(y), round(x)].astype(int)
        assert red > 200 and blue > 200 and green < 60
    assert output[120, 100, 1] > 200  # the detected one with no fitted point over it stays green
    assert not (changed(image, output) & ~near(np.concatenate([landmarks, fitted]), 2.5)).any()


def test_dots_are_anti_aliased():
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    output = draw_landmarks(image, np.array([[100.5, 50.5]]))
    greens = output[45:57, 95:107, 1]
    partial = (greens > 0) & (greens < 250)
    assert partial.sum() >= 4  # soft edges, not just on and off
    assert greens.max() > 200
    moved = draw_landmarks(image, np.array([[100.75, 50.5]]))[45:57, 95:107, 1]
    assert (moved != greens).any()  # a quarter pixel shows


def test_points_outside_the_image_or_not_a_number_are_skipped():
    image = background()
    landmarks = np.array([[-50.0, 10.0], [10.0, 1000.0], [np.nan, 5.0], [WIDTH + 0.25, 100.0], [0.0, 0.0]])
    output = draw_landmarks(image, landmarks)
    difference = changed(image, output)
    assert difference[0, 0] and difference[100, WIDTH - 1]  # on and just beside the edge: drawn, clipped
    assert not (difference & ~near(landmarks[3:], 2.5)).any()
    assert (draw_landmarks(image, np.zeros((0, 2))) == image).all()
    with pytest.raises(ValueError):
        draw_landmarks(image, np.zeros((5,)))


def test_no_landmarks_leave_the_image_as_it_was_but_for_the_no_face_text():
    image = (np.random.default_rng(0).random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)
    same = draw_landmarks(image, None)
    assert same is not image and (same == image).all()
    no_face = draw_landmarks(image, None, face_found=False)
    difference = changed(image, no_face)
    assert difference.sum() > 100  # the text
    rows, columns = np.nonzero(difference)
    assert rows.max() < HEIGHT // 4 and columns.max() < WIDTH // 2  # in the top-left corner only
    assert (image == draw_landmarks(image, None)).all()


@pytest.mark.parametrize("size, content", [((200, 200), (200, 150)), ((400, 100), (133, 100)),
                                           ((320, 240), (320, 240)), ((64, 480), (64, 48))])
def test_fit_into_keeps_the_aspect_ratio_between_black_bars(size, content):
    width, height = size
    image = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    output = fit_into(image, width, height)
    assert output.shape == (height, width, 3) and output.dtype == np.uint8
    rows, columns = np.nonzero(output.max(axis=2) > 0)
    content_width, content_height = columns.max() - columns.min() + 1, rows.max() - rows.min() + 1
    assert (content_width, content_height) == content
    assert abs(content_width / content_height - WIDTH / HEIGHT) < 0.02
    assert abs(columns.min() - (width - columns.max() - 1)) <= 1  # centred
    assert abs(rows.min() - (height - rows.max() - 1)) <= 1
    assert (output[rows.min():rows.max() + 1, columns.min():columns.max() + 1] == 200).all()


def test_fit_into_keeps_the_dtype_and_the_picture():
    image = np.zeros((100, 50, 3), np.float32)
    image[:50] = 1.0  # top half white
    output = fit_into(image, 100, 100)
    assert output.dtype == np.float32 and output.shape == (100, 100, 3)
    assert output[25, 50].min() == 1.0 and output[75, 50].max() == 0.0
    assert output[50, 10].max() == 0.0  # a bar


def test_status_card_is_a_dark_card_with_centred_text():
    card = status_card(320, 240, "no camera — sliders only")
    assert card.shape == (240, 320, 3) and card.dtype == np.uint8
    brightness = card.max(axis=2)
    assert len(np.unique(brightness)) > 2  # text, anti-aliased
    assert np.median(brightness) < 60  # dark
    rows, columns = np.nonzero(brightness > 128)
    assert abs((rows.min() + rows.max()) / 2 - 120) < 12 and abs((columns.min() + columns.max()) / 2 - 160) < 12
    assert columns.max() - columns.min() > 160  # wide enough to read
    assert (card == status_card(320, 240, "no camera - sliders only")).all()  # the dash is drawn as one
    two_lines = status_card(160, 90, "no signal\ncheck the camera")
    assert two_lines.shape == (90, 160, 3) and len(np.unique(two_lines)) > 2
    assert status_card(7, 5, "no signal").shape == (5, 7, 3)


def test_overlays_are_fast():
    image = (np.random.default_rng(0).random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)
    rng = np.random.default_rng(1)
    landmarks = rng.random((478, 3)) * [120, 150, 1] + [100, 50, 0]  # a MediaPipe face
    fitted = rng.random((105, 2)) * [120, 150] + [100, 50]

    def median_ms(function) -> float:
        function()
        times = []
        for _ in range(30):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return float(np.median(times)) * 1000

    # About 0.5 ms each on a laptop; loose bounds for busy test machines.
    assert median_ms(lambda: draw_landmarks(image, landmarks, fitted, face_found=False)) < 4
    assert median_ms(lambda: fit_into(image, 256, 256)) < 4
    assert median_ms(lambda: status_card(WIDTH, HEIGHT, "no signal")) < 4
