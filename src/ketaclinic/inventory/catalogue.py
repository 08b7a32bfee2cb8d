"""What the clinic stocks and where: products (network-wide) and locked cabinets (per site)."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit import service as audit
from ketaclinic.clinics.models import Site
from ketaclinic.db import by_public_id
from ketaclinic.errors import Conflict, invalid
from ketaclinic.inventory import schemas
from ketaclinic.inventory.models import Container, Lot, Product, StorageLocation
from ketaclinic.kernel.actor import Actor


def add_product(*, db: Session, data: schemas.ProductIn, actor: Actor) -> Product:
    """A new product; an NDC is stocked once."""
    if db.execute(select(Product.pk).where(Product.ndc == data.ndc)).first():
        raise Conflict(f"a product with NDC {data.ndc} already exists")
    if data.drug == "esketamine" and data.devices_per_container < 1:
        raise invalid("devices_per_container", "an esketamine product is counted in devices",
                      "1 or more")
    if data.drug == "ketamine" and data.devices_per_container:
        raise invalid("devices_per_container", "a ketamine vial is counted in mg", "0")
    if data.concentration_mg_per_ml and data.volume_ml and \
            data.concentration_mg_per_ml * data.volume_ml != data.mg_per_container:
        raise invalid("mg_per_container", f"{data.concentration_mg_per_ml} mg/mL x "
                      f"{data.volume_ml} mL is not {data.mg_per_container} mg",
                      "concentration times volume")
    product = Product(name=data.name.strip(), drug=data.drug, ndc=data.ndc,
                      mg_per_container=float(data.mg_per_container),
                      concentration_mg_per_ml=float(data.concentration_mg_per_ml)
                      if data.concentration_mg_per_ml else None,
                      volume_ml=float(data.volume_ml) if data.volume_ml else None,
                      devices_per_container=data.devices_per_container,
                      created_by=actor.username)
    db.add(product)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="Product", record_id=product.id,
                 detail=f"{product.name} NDC {product.ndc}")
    return product


def products(db: Session) -> Sequence[Product]:
    """Every product by name."""
    return db.execute(select(Product).order_by(Product.name)).scalars().all()


def add_cabinet(*, db: Session, data: schemas.CabinetIn, actor: Actor) -> StorageLocation:
    """A new locked cabinet at one of the actor's sites."""
    site = db.execute(select(Site).where(Site.code == data.site.strip().upper())
                      ).scalar_one_or_none()
    if site is None or site.pk not in actor.site_pks:
        raise invalid("site", f"{data.site!r} is not one of your sites", "a site code you work at")
    if db.execute(select(StorageLocation.pk).where(StorageLocation.site_pk == site.pk,
                                                   StorageLocation.name == data.name.strip())
                  ).first():
        raise Conflict(f"{site.code} already has a cabinet called {data.name.strip()!r}")
    cabinet = StorageLocation(site_pk=site.pk, name=data.name.strip(), created_by=actor.username)
    db.add(cabinet)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="StorageLocation",
                 record_id=cabinet.id, detail=f"{site.code}: {cabinet.name}")
    return cabinet


def cabinets(db: Session, actor: Actor) -> list[tuple[StorageLocation, Site]]:
    """The cabinets at the actor's sites with their site."""
    return list(db.execute(select(StorageLocation, Site).join(
        Site, Site.pk == StorageLocation.site_pk).where(Site.pk.in_(actor.site_pks)).order_by(
        Site.code, StorageLocation.name)))


def product(db: Session, product_id: object) -> Product:
    """A product by its public id."""
    return by_public_id(db, Product, product_id, "product")


def describe(db: Session, container_pks: list[int]) -> dict[int, tuple[Container, Lot, Product]]:
    """Containers with their lot and product, in one query."""
    if not container_pks:
        return {}
    rows = db.execute(select(Container, Lot, Product).join(Lot, Lot.pk == Container.lot_pk).join(
        Product, Product.pk == Lot.product_pk).where(Container.pk.in_(container_pks))).all()
    return {c.pk: (c, lot, product) for c, lot, product in rows}
