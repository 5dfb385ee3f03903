/*
 * Per-frame loops of the pipeline's hot path, compiled (see kernels.py for the Python side).
 *
 * Each function computes the formula of its numpy reference in hipsense/body/frames.py in one
 * pass per frame. Every frame is computed on its own (no sums across frames), so a frame's
 * result does not depend on how the session was split into blocks; setup.py compiles with
 * -ffp-contract=off and without fast-math so the compiler keeps the written order of operations.
 *
 * Arrays are C-contiguous float64 (quaternions (n, 4) scalar first, vectors (n, 3)) and
 * numpy bool (one byte, 0 or 1). The functions are called through ctypes; the module init
 * function only makes the shared library importable (and locatable) as hipsense._kernels.
 */
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define DEG_PER_RAD (180.0 / 3.14159265358979323846)

/* One sensor's values at the grid times (all within its samples' span): nlerp of the two
 * neighbouring orientations (shortest path), the nearest raw gyroscope / accelerometer sample,
 * rest when both neighbours rest; NaN and no rest inside a hole longer than max_gap_s or before
 * the first sample. Returns the index of the left neighbour of the last grid point. */
long hs_resample_role(const double *time_s, const double *quat, const double *gyr,
                      const double *acc, const uint8_t *rest, long n, const double *grid_s,
                      long m, double max_gap_s, double *quat_out, double *gyr_out,
                      double *acc_out, uint8_t *rest_out)
{
    long i = 0;
    for (long k = 0; k < m; k++) {
        const double t = grid_s[k];
        /* Largest i with time_s[i] <= t (grid and samples both increase: a forward walk). */
        while (i + 1 < n && time_s[i + 1] <= t)
            i++;
        const long j = i + 1 < n ? i + 1 : n - 1;
        const double t_i = time_s[i];
        const double span = time_s[j] - t_i;
        double frac = span > 0 ? (t - t_i) / span : 0.0;
        frac = frac < 0.0 ? 0.0 : (frac > 1.0 ? 1.0 : frac);
        if (span > max_gap_s || t < time_s[0]) {
            for (int c = 0; c < 4; c++)
                quat_out[4 * k + c] = NAN;
            for (int c = 0; c < 3; c++) {
                gyr_out[3 * k + c] = NAN;
                acc_out[3 * k + c] = NAN;
            }
            rest_out[k] = 0;
            continue;
        }
        const double *q0 = quat + 4 * i;
        const double *q1 = quat + 4 * j;
        double dot = 0.0;
        for (int c = 0; c < 4; c++)
            dot += q0[c] * q1[c];
        const double w1 = dot < 0 ? -frac : frac;
        const double w0 = 1.0 - frac;
        double norm2 = 0.0;
        double v[4];
        for (int c = 0; c < 4; c++) {
            v[c] = q0[c] * w0 + q1[c] * w1;
            norm2 += v[c] * v[c];
        }
        const double inv = 1.0 / sqrt(norm2);
        for (int c = 0; c < 4; c++)
            quat_out[4 * k + c] = v[c] * inv;
        const long near = frac < 0.5 ? i : j;
        for (int c = 0; c < 3; c++) {
            gyr_out[3 * k + c] = gyr[3 * near + c];
            acc_out[3 * k + c] = acc[3 * near + c];
        }
        rest_out[k] = (uint8_t)(rest[i] && rest[j]);
    }
    return i;
}

/* out[k] = mats[i] @ quat[k] for the rows k of interval i, bounds[i] <= k < bounds[i + 1]:
 * constant rotations on both sides of every quaternion, changing between intervals
 * (frames.sandwich_matrices gives the row-major 4x4 matrices). */
void hs_apply_matrices(const double *quat, const double *mats, const long *bounds, long n_int,
                       double *out)
{
    for (long i = 0; i < n_int; i++) {
        const double *m = mats + 16 * i;
        for (long k = bounds[i]; k < bounds[i + 1]; k++) {
            const double *q = quat + 4 * k;
            for (int r = 0; r < 4; r++)
                out[4 * k + r] = m[4 * r] * q[0] + m[4 * r + 1] * q[1] + m[4 * r + 2] * q[2] +
                                 m[4 * r + 3] * q[3];
        }
    }
}

/* Pelvic tilt, obliquity, rotation (z-y-x Cardan, degrees) of pelvis -> heading-aligned
 * earth quaternions: frames.pelvis_angles_from_quat. */
void hs_pelvis_angles_deg(const double *pelvis, long n, double *tilt_deg,
                          double *obliquity_deg, double *rotation_deg)
{
    for (long k = 0; k < n; k++) {
        const double w = pelvis[4 * k], x = pelvis[4 * k + 1];
        const double y = pelvis[4 * k + 2], z = pelvis[4 * k + 3];
        const double r00 = 1 - 2 * (y * y + z * z);
        const double r10 = 2 * (x * y + w * z);
        const double r20 = 2 * (x * z - w * y);
        const double r21 = 2 * (y * z + w * x);
        const double r22 = 1 - 2 * (x * x + y * y);
        tilt_deg[k] = atan2(-r20, sqrt(r00 * r00 + r10 * r10)) * DEG_PER_RAD;
        rotation_deg[k] = atan2(r10, r00) * DEG_PER_RAD;
        obliquity_deg[k] = atan2(r21, r22) * DEG_PER_RAD;
    }
}

/* Hip JCS angles (y-x-z Cardan, degrees) of conj(pelvis) * thigh with the side's signs
 * (frames.hip_angles_from_quat), and the thigh's sagittal inclination in the pelvis's heading
 * plane (frames.thigh_inclination). */
void hs_hip_angles_deg(const double *pelvis, const double *thigh, long n, double s_abd,
                       double s_rot, double *flexion_deg, double *abduction_deg,
                       double *internal_rotation_deg, double *inclination_deg)
{
    for (long k = 0; k < n; k++) {
        const double pw = pelvis[4 * k], px = -pelvis[4 * k + 1];
        const double py = -pelvis[4 * k + 2], pz = -pelvis[4 * k + 3];
        const double tw = thigh[4 * k], tx = thigh[4 * k + 1];
        const double ty = thigh[4 * k + 2], tz = thigh[4 * k + 3];
        /* Thigh -> pelvis: conj(pelvis) * thigh. */
        const double w = pw * tw - px * tx - py * ty - pz * tz;
        const double x = pw * tx + px * tw + py * tz - pz * ty;
        const double y = pw * ty - px * tz + py * tw + pz * tx;
        const double z = pw * tz + px * ty - py * tx + pz * tw;
        const double r02 = 2 * (x * z + w * y);
        const double r22 = 1 - 2 * (x * x + y * y);
        const double r12 = 2 * (y * z - w * x);
        const double r10 = 2 * (x * y + w * z);
        const double r11 = 1 - 2 * (x * x + z * z);
        flexion_deg[k] = -atan2(r02, r22) * DEG_PER_RAD;
        abduction_deg[k] = s_abd * atan2(-r12, sqrt(r10 * r10 + r11 * r11)) * DEG_PER_RAD;
        internal_rotation_deg[k] = s_rot * atan2(r10, r11) * DEG_PER_RAD;
        /* Knee direction (thigh -z) against the horizontal forward of the pelvis (90 deg
         * clockwise of its left axis). */
        const double kx = -2 * (tx * tz + tw * ty);
        const double ky = -2 * (ty * tz - tw * tx);
        const double kz = -(1 - 2 * (tx * tx + ty * ty));
        const double fx = 1 - 2 * (px * px + pz * pz);
        const double fy = -2 * (px * py + pw * pz);
        const double norm = sqrt(fx * fx + fy * fy);
        const double forward = (kx * fx + ky * fy) / (norm > 0 ? norm : 1.0);
        inclination_deg[k] = atan2(forward, -kz) * DEG_PER_RAD;
    }
}

/* Clear standing[k] where this sensor moves (gyro norm, specific-force norm away from
 * gravity) or its segment's z axis (z_segment, sensor coordinates) is further than the pose
 * limit from earth's up. NaN frames are not standing. */
void hs_standing_role(const double *gyr, const double *acc, const double *quat, long n,
                      const double *z_segment, double max_gyr_rad_s, double gravity_m_s2,
                      double max_acc_deviation_m_s2, double min_cos_pose, uint8_t *standing)
{
    const double zx = z_segment[0], zy = z_segment[1], zz = z_segment[2];
    for (long k = 0; k < n; k++) {
        if (!standing[k])
            continue;
        const double *g = gyr + 3 * k;
        const double *a = acc + 3 * k;
        const double g_norm = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
        const double a_norm = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
        const double w = quat[4 * k], x = quat[4 * k + 1];
        const double y = quat[4 * k + 2], z = quat[4 * k + 3];
        /* Earth's up in sensor coordinates = third row of the rotation matrix. */
        const double up_dot_z = 2 * (x * z - w * y) * zx + 2 * (y * z + w * x) * zy +
                                (1 - 2 * (x * x + y * y)) * zz;
        standing[k] = (uint8_t)(g_norm < max_gyr_rad_s &&
                                fabs(a_norm - gravity_m_s2) < max_acc_deviation_m_s2 &&
                                up_dot_z > min_cos_pose);
    }
}

/* Rotational acceleration at the lever arm r (sensor coordinates): w x (w x r) + dw x r for
 * each of the n_total - lag last rows of the gyroscope stream `extended`, with dw the causal
 * difference over `lag` samples times `scale` (rate / lag). */
void hs_lever_arm_acc(const double *extended, long n_total, long lag, double scale,
                      const double *r, double *out)
{
    const double rx = r[0], ry = r[1], rz = r[2];
    for (long k = 0; k + lag < n_total; k++) {
        const double *w = extended + 3 * (k + lag);
        const double *w0 = extended + 3 * k;
        const double dx = (w[0] - w0[0]) * scale, dy = (w[1] - w0[1]) * scale;
        const double dz = (w[2] - w0[2]) * scale;
        const double w_dot_r = w[0] * rx + w[1] * ry + w[2] * rz;
        const double w_sq = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
        out[3 * k] = w[0] * w_dot_r - rx * w_sq + (dy * rz - dz * ry);
        out[3 * k + 1] = w[1] * w_dot_r - ry * w_sq + (dz * rx - dx * rz);
        out[3 * k + 2] = w[2] * w_dot_r - rz * w_sq + (dx * ry - dy * rx);
    }
}

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "hipsense's compiled per-frame loops; called through ctypes by hipsense.kernels.", -1, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
