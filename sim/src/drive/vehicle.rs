//! Vehicle parameters for rapier's ray-cast vehicle controller, as a validated serde config.

use crate::error::{Result, SimError};
use serde::{Deserialize, Serialize};

/// Physical parameters of a car. Defaults describe a 1,200 kg hatchback with grippy tyres,
/// tuned so a scripted driver can lap procedural circuits at 15-20 m/s without sliding.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VehicleConfig {
    /// Mass, kg (> 0).
    pub mass: f32,
    /// Half extents of the chassis box `(length, height, width) / 2`, metres.
    pub half_extents: [f32; 3],
    /// Distance between front and rear axles, metres.
    pub wheelbase: f32,
    /// Distance between left and right wheels, metres.
    pub track_width: f32,
    /// Wheel radius, metres.
    pub wheel_radius: f32,
    /// Suspension length at rest, metres.
    pub suspension_rest_length: f32,
    /// Suspension stiffness per unit chassis mass (rapier/Bullet convention).
    pub suspension_stiffness: f32,
    /// Damping while the spring compresses.
    pub suspension_compression: f32,
    /// Damping while the spring extends.
    pub suspension_damping: f32,
    /// Travel allowed around the rest length, metres.
    pub max_suspension_travel: f32,
    /// Tyre friction budget (roughly the friction coefficient).
    pub friction_slip: f32,
    /// Multiplier of the sideways tyre force.
    pub side_friction_stiffness: f32,
    /// Largest total drive force, N (all four wheels).
    pub max_engine_force: f32,
    /// Engine power, W: the drive force is capped at `power / speed`.
    pub max_power: f32,
    /// Largest total brake force, N.
    pub max_brake_force: f32,
    /// Steering lock of the front wheels, degrees.
    pub max_steer_deg: f32,
    /// How fast the front wheels can turn, degrees per second.
    pub steer_rate_deg: f32,
    /// Aerodynamic drag coefficient `0.5 * rho * Cd * A`, kg/m (force = c v^2).
    pub drag: f32,
    /// Rolling resistance coefficient (force = c m g).
    pub rolling_resistance: f32,
    /// The engine cuts out above this speed, m/s.
    pub max_speed: f32,
}

impl Default for VehicleConfig {
    fn default() -> Self {
        Self {
            mass: 1200.0,
            half_extents: [2.1, 0.35, 0.9],
            wheelbase: 2.6,
            track_width: 1.6,
            wheel_radius: 0.35,
            suspension_rest_length: 0.3,
            suspension_stiffness: 30.0,
            suspension_compression: 2.5,
            suspension_damping: 3.5,
            max_suspension_travel: 0.2,
            friction_slip: 1.6,
            side_friction_stiffness: 1.0,
            max_engine_force: 6000.0,
            max_power: 90_000.0,
            max_brake_force: 12_000.0,
            max_steer_deg: 32.0,
            steer_rate_deg: 200.0,
            drag: 0.4,
            rolling_resistance: 0.015,
            max_speed: 40.0,
        }
    }
}

impl VehicleConfig {
    /// Refuse impossible values (zero mass, NaN, negative sizes) with a message naming the field.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, field: &str, msg: &str, v: f32| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(SimError::Invalid(format!(
                    "vehicle `{field}` {msg}, got {v}"
                )))
            }
        };
        let pos = |v: f32| v.is_finite() && v > 0.0;
        let nonneg = |v: f32| v.is_finite() && v >= 0.0;
        check(
            pos(self.mass) && self.mass <= 100_000.0,
            "mass",
            "must be in (0, 100000] kg",
            self.mass,
        )?;
        for (i, &h) in self.half_extents.iter().enumerate() {
            check(
                pos(h) && h <= 20.0,
                &format!("half_extents[{i}]"),
                "must be in (0, 20] m",
                h,
            )?;
        }
        check(
            pos(self.wheelbase),
            "wheelbase",
            "must be > 0",
            self.wheelbase,
        )?;
        check(
            pos(self.track_width),
            "track_width",
            "must be > 0",
            self.track_width,
        )?;
        check(
            pos(self.wheel_radius),
            "wheel_radius",
            "must be > 0",
            self.wheel_radius,
        )?;
        check(
            pos(self.suspension_rest_length),
            "suspension_rest_length",
            "must be > 0",
            self.suspension_rest_length,
        )?;
        check(
            pos(self.suspension_stiffness),
            "suspension_stiffness",
            "must be > 0",
            self.suspension_stiffness,
        )?;
        check(
            nonneg(self.suspension_compression),
            "suspension_compression",
            "must be >= 0",
            self.suspension_compression,
        )?;
        check(
            nonneg(self.suspension_damping),
            "suspension_damping",
            "must be >= 0",
            self.suspension_damping,
        )?;
        check(
            pos(self.max_suspension_travel),
            "max_suspension_travel",
            "must be > 0",
            self.max_suspension_travel,
        )?;
        check(
            pos(self.friction_slip),
            "friction_slip",
            "must be > 0",
            self.friction_slip,
        )?;
        check(
            nonneg(self.side_friction_stiffness),
            "side_friction_stiffness",
            "must be >= 0",
            self.side_friction_stiffness,
        )?;
        check(
            nonneg(self.max_engine_force),
            "max_engine_force",
            "must be >= 0",
            self.max_engine_force,
        )?;
        check(
            pos(self.max_power),
            "max_power",
            "must be > 0",
            self.max_power,
        )?;
        check(
            nonneg(self.max_brake_force),
            "max_brake_force",
            "must be >= 0",
            self.max_brake_force,
        )?;
        check(
            self.max_steer_deg.is_finite() && self.max_steer_deg > 0.0 && self.max_steer_deg < 80.0,
            "max_steer_deg",
            "must be in (0, 80) degrees",
            self.max_steer_deg,
        )?;
        check(
            pos(self.steer_rate_deg),
            "steer_rate_deg",
            "must be > 0",
            self.steer_rate_deg,
        )?;
        check(nonneg(self.drag), "drag", "must be >= 0", self.drag)?;
        check(
            nonneg(self.rolling_resistance),
            "rolling_resistance",
            "must be >= 0",
            self.rolling_resistance,
        )?;
        check(
            pos(self.max_speed) && self.max_speed <= 120.0,
            "max_speed",
            "must be in (0, 120] m/s",
            self.max_speed,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        VehicleConfig::default().validate().unwrap();
        let c = VehicleConfig {
            mass: 0.0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("mass"));
        let c = VehicleConfig {
            wheel_radius: f32::NAN,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("wheel_radius")
        );
        let c = VehicleConfig {
            half_extents: [2.0, -1.0, 1.0],
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("half_extents[1]")
        );
    }

    #[test]
    fn parses_partial_toml_with_defaults_and_rejects_unknown_fields() {
        let c: VehicleConfig = toml::from_str("mass = 900.0").unwrap();
        assert_eq!(c.mass, 900.0);
        assert_eq!(c.wheelbase, VehicleConfig::default().wheelbase);
        assert!(toml::from_str::<VehicleConfig>("weight = 900.0").is_err());
    }
}
