"""Physiological simulator of ventilated patients: the built-in, labelled default data of ventgen.

``patient`` draws patients, ``ventilator`` runs the lung and the ventilator and records the signals,
``events`` plans the breathing events and ``effort`` writes what they do to the breathing; ``api``
puts them together in :func:`simulate_recording` and :func:`simulate_cohort`. Nothing here opens a
file (:func:`ventgen.write_simulated_cohort` writes simulated cohorts).

Model
-----
*Lung.* A single-compartment (one resistance, one compliance) respiratory system driven by the
airway pressure and the patient's muscle pressure::

    Paw(t) - PEEP = R(t) * Q(t) + V(t) / C(t) - Pmus(t)

with ``V`` the volume above the relaxed volume at PEEP (L), ``Q = dV/dt`` (L/s), ``R`` in
cmH2O/(L/s), ``C`` in L/cmH2O. ``R`` and ``C`` vary in time (posture, glottis, upper airway, see
:mod:`ventgen.signals.simulate.effort`). Within each ventilator phase the airway pressure is either imposed
(inspiration: the pressure target) or set by the expiratory valve (``Paw = target - Rv * Q``), so
the equation stays linear and first order. It is integrated exactly for piecewise-constant inputs
(zero-order hold): ``V[k+1] = a_k V[k] + (1 - a_k) C_k D_k`` with ``a_k = exp(-dt / (R_k C_k))``,
solved in closed form with cumulative sums (no per-sample Python loop); the flow is the volume
difference per sample, so the simulated volume is exactly the integral of the simulated flow.

*Ventilator.* Pressure support (``mode="psv"``): a breath is triggered when the patient's flow
exceeds the flow trigger (1-4 L/min; PB-840 default 3 L/min) after a trigger delay of 60-150 ms
(bench values of ICU ventilators [Thille2009]); the pressure rises to ``PEEP + support`` with an
exponential rise time and a small controller overshoot (0-8 % of the support); inspiration cycles
off when flow falls below a fraction (15-40 %, default 25 %) of its peak, or after ``ti_max_s``. A
backup rate delivers time-cycled mandatory breaths when no trigger arrives in time (S/T mode of home
ventilators; apnea ventilation). ``mode="pcv"``
(pressure assist-control) uses the same triggers but time-cycles every breath at ``ti_set_s``.
``mode="vcv"`` (volume assist-control, as in the PB-840 reference recordings) imposes the inspiratory
flow (square or descending ramp at a set peak flow until the set tidal volume, then an optional
pause); the airway pressure follows from the equation of motion, with scooped pressure when the
patient pulls harder than the set flow, and a high-pressure limit that ends the breath.
``mode="cpap"`` holds a constant pressure through a demand valve of small resistance; breaths are the
patient's own (zero crossings of the patient flow).

*Patients.* Resistance, compliance, breathing rate, effort, inspiratory fraction, leak and noise are
drawn per patient from phenotype ranges (healthy, obstructive, restrictive; see :data:`PHENOTYPES`)
after [Arnal2018] and [Lumb2017]; effort follows [Albanese2016] (see :mod:`ventgen.signals.simulate.effort`).
Settings are titrated per patient: support for 6-8 mL/kg [Brochard1989], backup rate below the
spontaneous rate.

*Measurement.* The recorded flow is the patient flow plus the residual of the ventilator's leak
compensation (orifice model ``Q_leak = K sqrt(Paw)``; the ventilator estimates K with a 10 s lag
and a small bias), cardiogenic oscillations (0.3-2 L/min at the heart rate [Imanaka2000]), event
artefacts and white sensor noise, rounded to 0.01 like PB-840 files.
The volume channel is what a ventilator displays: the integral of the recorded flow since the start
of the current breath.

References
----------
[Arnal2018]    Arnal JM, Garnero A, Saoli M, Chatburn RL. Parameters for simulation of adult subjects
               during mechanical ventilation. Respir Care 2018;63:158-168.
[Lumb2017]     Lumb AB. Nunn's Applied Respiratory Physiology, 8th ed. Elsevier 2017.
[Albanese2016] Albanese A, Cheng L, Ursino M, Chbat NW. Am J Physiol Heart Circ Physiol
               2016;310:H899-H921.
[Brochard1989] Brochard L, Harf A, Lorino H, Lemaire F. Inspiratory pressure support prevents
               diaphragmatic fatigue during weaning from mechanical ventilation. Am Rev Respir Dis
               1989;139:513-521.
[Thille2009]   Thille AW, Lyazidi A, Richard JC, Galia F, Brochard L. A bench study of intensive-care-unit
               ventilators: new versus old and turbine-based versus compressed gas-based ventilators.
               Intensive Care Med 2009;35:1368-1376.
[Tobin1983]    Tobin MJ, et al. Breathing patterns. 1. Normal subjects. Chest 1983;84:202-205.
[Imanaka2000]  Imanaka H, Nishimura M, Takeuchi M, et al. Autotriggering caused by cardiogenic
               oscillation during flow-triggered mechanical ventilation. Crit Care Med 2000;28:402-407.
"""


from __future__ import annotations

from .api import INTERFACES, simulate_cohort, simulate_recording
from .events import DEFAULT_PROPORTIONS, plan_events, resolve_proportions
from .patient import PHENOTYPES, PatientParams, draw_patient
from .ventilator import MODES, VentilatorSettings, draw_settings

__all__ = [
    "simulate_recording",
    "simulate_cohort",
    "PatientParams",
    "VentilatorSettings",
    "draw_patient",
    "draw_settings",
    "resolve_proportions",
    "plan_events",
    "DEFAULT_PROPORTIONS",
    "PHENOTYPES",
    "MODES",
    "INTERFACES",
]
