"""Drawing only: given numbers and images, return Figures and PIL images.

- `images`: grids, captions, filmstrips, GIFs;
- `units`: durations and byte counts as labels;
- `render`: the one lock around matplotlib, and a Figure to PNG.
"""
