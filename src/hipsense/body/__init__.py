"""Body model: frames and sign conventions, sensor-to-segment calibration, joint angles."""
