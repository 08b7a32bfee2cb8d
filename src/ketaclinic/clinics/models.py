"""Tables for the clinic network, sites and chairs, and the clinic's rule overrides."""

from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketaclinic.db import Base, RecordMixin


class Network(RecordMixin, Base):
    """A clinic network: the organisation that runs one or more sites."""

    __tablename__ = "network"

    name: Mapped[str] = mapped_column(String(200))
    # Who a patient in crisis should contact, shown with every suicidality alert: set by the clinic.
    crisis_contacts: Mapped[list[str]] = mapped_column(JSON, default=list)
    sites: Mapped[list["Site"]] = relationship(back_populates="network", order_by="Site.name")


class Site(RecordMixin, Base):
    """One clinic location with its own time zone and chairs."""

    __tablename__ = "site"

    network_pk: Mapped[int] = mapped_column(ForeignKey("network.pk", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    time_zone: Mapped[str] = mapped_column(String(64))
    # The site's DEA registration number, printed on controlled-substance reports (Form 106 draft).
    dea_registration: Mapped[str] = mapped_column(String(20), default="")
    network: Mapped[Network] = relationship(back_populates="sites")
    chairs: Mapped[list["Chair"]] = relationship(back_populates="site", order_by="Chair.name")


class Chair(RecordMixin, Base):
    """A treatment chair at a site."""

    __tablename__ = "chair"
    __table_args__ = (UniqueConstraint("site_pk", "name"),)

    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    # The bedside monitor's device id as it appears in OBX-18 (e.g. its EUI-64), if known.
    monitor_device_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    # The treatment routes the chair can serve (an IV chair has an infusion pump).
    routes: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["iv", "esketamine", "im",
                                                                      "oral"])
    site: Mapped[Site] = relationship(back_populates="chairs")


class RuleOverride(RecordMixin, Base):
    """A clinic's value for one rule-set parameter; the newest row per parameter is in force."""

    __tablename__ = "rule_override"

    parameter: Mapped[str] = mapped_column(String(80), index=True)
    value: Mapped[float | None] = mapped_column(Float, default=None)  # None: back to the default
    reason: Mapped[str] = mapped_column(String(1000))
