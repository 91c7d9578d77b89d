package dev.selfsup.core.method;

import dev.selfsup.core.config.Records;

/**
 * Checks that several methods' settings share. Kept apart from {@link Methods}: a settings record is built while
 * its method class loads, and touching the registry from there would load the registry half-way.
 */
final class SettingChecks {
    private SettingChecks() {}

    static void requireCropScale(float cropScaleMin) {
        Records.require(
                cropScaleMin > 0 && cropScaleMin <= 1, "crop_scale_min", "must be in (0, 1], got " + cropScaleMin);
    }
}
