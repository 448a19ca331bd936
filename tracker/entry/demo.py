"""Demo data: Qidong's towns, about forty facilities, people of every role, and findings at every stage."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.checklists import Catalog
from tracker.domain.model import Actor, Mode, Role, Sector, Severity
from tracker.domain.policy import PolicySettings
from tracker.domain.supervision import DEFAULT_NOTICE_PREFIX
from tracker.domain.time import local_day
from tracker.events.schemas import OrderIssued
from tracker.passwords import hash_password
from tracker.service import plans, supervision
from tracker.service.certificates import import_csv
from tracker.service.loop import issue_order, submit_rectification, verify
from tracker.service.reporting import InspectionInput, ItemResult, Notices, report_inspection
from tracker.store.tables import facilities, outbox, supervisions, user_sectors, users

PASSWORD = "demo-pass-2026"
TOWNS = [
    "吕四港镇",
    "南阳镇",
    "北新镇",
    "海复镇",
    "王鲍镇",
    "汇龙镇",
    "近海镇",
    "寅阳镇",
    "惠萍镇",
    "东海镇",
    "合作镇",
    "北城区街道",
    "南城区街道",
]
# (type, name pattern) — the kinds of place a county bureau oversees.
KINDS = [
    ("nursing_home", "{town}敬老院"),
    ("neighbourhood_point", "{town}{n}号睦邻点"),
    ("meal_point", "{town}幸福食堂"),
]
SINGLES = [
    ("nursing_home", "启东市中心敬老院", "汇龙镇"),
    ("elderly_service_center", "启东市北城区街道综合养老服务中心", "北城区街道"),
    ("elderly_service_center", "吕四港镇区域性养老服务中心", "吕四港镇"),
    ("funeral_home", "启东市殡仪馆", "汇龙镇"),
    ("cemetery", "启东市公益性公墓", "南阳镇"),
    ("cemetery", "王鲍镇骨灰堂", "王鲍镇"),
    ("children_centre", "启东市未成年人保护中心", "汇龙镇"),
    ("relief_station", "启东市救助管理站", "南城区街道"),
    ("marriage_registry", "启东市婚姻登记中心", "汇龙镇"),
    ("mental_health_point", "南城区街道精神康复站", "南城区街道"),
]
SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高梁郑罗宋谢唐韩曹许邓萧冯"


class DemoLogin(NamedTuple):
    username: str
    who: str
    password: str
    opens: str  # the page the login lands on


def demo_logins() -> list[DemoLogin]:
    """The demo's people, each with the page their login opens (tracker.web.app.HOMES)."""
    return [
        DemoLogin("admin", "管理员 / admin", PASSWORD, "/"),
        DemoLogin("lead", "局领导 / bureau lead", PASSWORD, "/dashboard"),
        DemoLogin("chief", "科室负责人 / section chief", PASSWORD, "/dashboard"),
        DemoLogin("town-huilong", "汇龙镇民政办 / town officer", PASSWORD, "/dashboard"),
        DemoLogin("inspector", "检查人员 / inspector", PASSWORD, "/my"),
        DemoLogin("inspector2", "检查人员 / inspector", PASSWORD, "/my"),
        DemoLogin("head-QD001", "机构负责人 / facility head of QD001", PASSWORD, "/my"),
    ]


async def seed(
    engine: AsyncEngine, catalog: Catalog, now: datetime, policy: PolicySettings | None = None
) -> bool:
    """Fill an empty database; does nothing when facilities exist already."""
    policy = policy or PolicySettings()
    rng = random.Random(2026)
    async with engine.begin() as conn:
        if await conn.scalar(select(func.count()).select_from(facilities)):
            return False
        rows = []
        for kind, name, town in SINGLES:
            rows.append({"type": kind, "name": name, "town": town})
        for n, town in enumerate(TOWNS):
            for kind, pattern in KINDS:
                if len(rows) >= 40:
                    break
                if kind == "meal_point" and n % 2:
                    continue
                rows.append({"type": kind, "name": pattern.format(town=town, n=n % 3 + 1), "town": town})
        for i, row in enumerate(rows, start=1):
            row["code"] = f"QD{i:03d}"
            row["head_name"] = rng.choice(SURNAMES) + rng.choice(
                ["建国", "丽华", "志强", "秀英", "海燕", "卫东"]
            )
            row["head_email"] = f"head.qd{i:03d}@facility.example.cn"
            kind = catalog.facility_types[row["type"]]
            row["sector"], row["ownership"] = kind.sector, kind.ownership
        await conn.execute(insert(facilities), rows)
        ids = {r.code: r.id for r in (await conn.execute(select(facilities.c.code, facilities.c.id))).all()}
        hashed = hash_password(PASSWORD)
        people = [
            {"username": "admin", "role": Role.ADMIN, "name": "系统管理员", "email": "admin@mzj.example.cn"},
            {"username": "lead", "role": Role.BUREAU_LEAD, "name": "陈局长", "email": "lead@mzj.example.cn"},
            {
                "username": "chief",
                "role": Role.SECTION_CHIEF,
                "name": "周科长",
                "email": "chief@mzj.example.cn",
            },
            {
                "username": "inspector",
                "role": Role.INSPECTOR,
                "name": "李检查",
                "email": "inspector@mzj.example.cn",
                "warrant_no": "32068120001",
            },
            {
                "username": "inspector2",
                "role": Role.INSPECTOR,
                "name": "王检查",
                "email": "inspector2@mzj.example.cn",
                "warrant_no": "32068120002",
            },
            # Two more holders of a 执法证号, so that the random draw has teams to choose (none of them logs in).
            {
                "username": "inspector3",
                "role": Role.INSPECTOR,
                "name": "张检查",
                "email": "inspector3@mzj.example.cn",
                "warrant_no": "32068120003",
            },
            {
                "username": "inspector4",
                "role": Role.INSPECTOR,
                "name": "刘检查",
                "email": "inspector4@mzj.example.cn",
                "warrant_no": "32068120004",
            },
        ]
        # Where the inspectors live: the draw sends nobody to a facility of their own town.
        inspector_towns = {
            "inspector": "汇龙镇",
            "inspector2": "南阳镇",
            "inspector3": "北新镇",
            "inspector4": "海复镇",
        }
        pinyin = {
            "汇龙镇": "huilong",
            "吕四港镇": "lvsigang",
            "南阳镇": "nanyang",
            "北新镇": "beixin",
            "海复镇": "haifu",
            "王鲍镇": "wangbao",
            "近海镇": "jinhai",
            "寅阳镇": "yinyang",
            "惠萍镇": "huiping",
            "东海镇": "donghai",
            "合作镇": "hezuo",
            "北城区街道": "beicheng",
            "南城区街道": "nancheng",
        }
        for town in TOWNS:
            people.append(
                {
                    "username": f"town-{pinyin[town]}",
                    "role": Role.TOWN_OFFICER,
                    "name": f"{town}民政办",
                    "email": f"{pinyin[town]}@town.example.cn",
                    "town": town,
                }
            )
        for row in rows:
            people.append(
                {
                    "username": f"head-{row['code']}",
                    "role": Role.FACILITY_HEAD,
                    "name": row["head_name"],
                    "email": row["head_email"],
                    "facility_id": ids[row["code"]],
                }
            )
        await conn.execute(
            insert(users),
            [
                {
                    "password_hash": hashed,
                    "active": True,
                    "facility_id": None,
                    "warrant_no": None,
                    **p,
                    "town": p.get("town") or inspector_towns.get(p["username"]),
                    "role": p["role"].value,
                }
                for p in people
            ],
        )
        user_rows = (await conn.execute(select(users))).all()
        # A small county: one section chief and one lead answer for every sector.
        await conn.execute(
            insert(user_sectors),
            [
                {"user_id": u.id, "sector": sector.value}
                for u in user_rows
                if u.username in ("lead", "chief")
                for sector in Sector
            ],
        )
    by_name = {u.username: u for u in user_rows}

    def actor(username: str) -> Actor:
        u = by_name[username]
        sectors = frozenset(s.value for s in Sector) if username in ("lead", "chief") else frozenset()
        return Actor(u.id, u.username, Role(u.role), u.facility_id, u.town, sectors)

    # A plan drawn at random seven weeks ago over the nursing homes: the visits below fulfil some of its checks.
    started = now - timedelta(days=50)
    announced = await plans.announce(
        engine,
        name="本季度养老机构双随机抽查",
        period_from=started.date(),
        period_to=(now + timedelta(days=40)).date(),
        team_size=2,
        now=started,
        share="0.5",
        facility_type="nursing_home",
        seed="demo-2026-draw",
        created_by="周科长",
    )
    await plans.make_draw(engine, announced.plan_id, started + timedelta(minutes=5))

    # Inspections spread over the last seven weeks, so some findings are closed, some open, some overdue.
    for n, row in enumerate(rows[:24]):
        when = now - timedelta(days=49 - 2 * n, hours=rng.randint(0, 6))
        items = catalog.items(facility_type=row["type"])
        if not items:
            continue
        picked = rng.sample(items, k=min(len(items), 6))
        failing = picked[: 1 + n % 3]
        # Every fourth visit finds a major hazard, so the supervision of majors can be seen at its stages.
        major = next((i for i in items if i.severity == Severity.MAJOR and i not in picked), None)
        found = [*failing, major] if n % 4 == 3 and major is not None else failing
        results = [ItemResult(i.code, "fail", note="检查时发现此问题，已拍照留存") for i in found]
        # Every third visit also has an item the facility put right while the inspectors were there.
        fixed = picked[len(failing) : len(failing) + (n % 3 == 1)]
        results += [ItemResult(i.code, "fixed", note="现场督促整改，已当场整改完毕") for i in fixed]
        results += [ItemResult(i.code, "pass") for i in picked[len(failing) + len(fixed) :]]
        mode = Mode.UNANNOUNCED if n % 3 == 0 else Mode.ROUTINE
        inspector, partner = (actor("inspector"), actor("inspector2"))[:: 1 if n % 2 == 0 else -1]
        visit = InspectionInput(
            ids[row["code"]],
            mode,
            f"demo-{n}",
            results,
            onsite_at=when - timedelta(hours=1),
            inspectors=[partner.id],
            person_present="值班负责人",
        )
        reported = await report_inspection(
            engine, catalog, inspector, visit, when, Notices(policy, prefix=DEFAULT_NOTICE_PREFIX)
        )
        async with engine.begin() as conn:
            issued = await issue_order(conn, reported.inspection_id, policy, when + timedelta(minutes=5))
            if issued is not None:
                # Issued here, not by the worker, which mails an order as it issues it: published on the bare
                # subject, as an earlier version's, the order is mailed by the reaction that mails those, with
                # the links of the web that runs.
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.event_id == issued.event_id)
                    .values(subject=OrderIssued.subject())
                )
            majors = set(
                (
                    await conn.execute(
                        select(supervisions.c.finding_id).where(
                            supervisions.c.finding_id.in_(reported.finding_ids)
                        )
                    )
                ).scalars()
            )
        head = actor(f"head-{row['code']}")
        for k, finding_id in enumerate(reported.finding_ids):
            if finding_id in majors:
                # Major hazards stand at every stage of their supervision, from the plan to the sign-off.
                crew = {"head": head, "inspector": inspector, "chief": actor("chief"), "lead": actor("lead")}
                await _walk_major(engine, crew, finding_id, (n + k) % 7, when, policy)
                continue
            stage = (n + k) % 4
            if stage == 0:
                continue  # still open at the facility; overdue if old enough
            async with engine.begin() as conn:
                await submit_rectification(
                    conn,
                    head,
                    finding_id,
                    "已按要求整改完毕，附整改后照片",
                    [],
                    when + timedelta(days=3),
                )
            if stage == 1:
                continue  # waiting for verification
            async with engine.begin() as conn:
                await verify(
                    conn,
                    inspector,
                    finding_id,
                    stage == 2,
                    "复查合格，同意销号" if stage == 2 else "整改不到位，请继续整改",
                    [],
                    policy,
                    when + timedelta(days=5),
                )
    await _certificates(engine, catalog, now)
    return True


async def _certificates(engine: AsyncEngine, catalog: Catalog, now: datetime) -> None:
    """A few register entries (tracker.service.certificates): the central home's lift expires within the week."""
    today = local_day(now)

    def on(days: int) -> str:
        return (today + timedelta(days=days)).isoformat()

    lines = [
        "facility,kind,label,number,expires_on",
        f"QD001,lift_inspection,1号梯,3106-2019-0012,{on(5)}",
        f"QD001,lift_inspection,2号梯,3106-2019-0013,{on(190)}",
        f"QD001,food_licence,中心食堂,JY33206810012345,{on(24)}",
        f"QD001,health_certificate,{SURNAMES[2]}秀英,,{on(75)}",
        f"QD001,fire_system_test,综合楼,,{on(140)}",
        f"QD001,control_room_operator,{SURNAMES[0]}海燕,4113000123,{on(400)}",
        f"QD002,boiler_inspection,1号锅炉,2110-2020-0031,{on(60)}",
    ]
    await import_csv(engine, catalog, "\n".join(lines) + "\n", now)


async def _walk_major(
    engine: AsyncEngine,
    crew: dict[str, Actor],
    finding_id: int,
    steps: int,
    when: datetime,
    policy: PolicySettings,
) -> None:
    """Take the first `steps` steps of a major hazard's supervision, a day or two apart."""
    day = timedelta(days=1)
    plan = {
        "measures": "更换损坏的防火门及闭门器，疏通安全出口",
        "funds": "约3万元，由运营经费列支",
        "unit": "本机构后勤部",
        "person": "后勤部负责人",
        "deadline": (when + 20 * day).date().isoformat(),
        "interim_measures": "相关区域停止使用，住养老人转移至一楼",
        "emergency_plan": "夜间双人值班，每两小时巡查一次，配足灭火器材",
    }
    walk = [
        lambda conn: supervision.file_plan(conn, crew["head"], finding_id, plan, [], policy, when + day),
        lambda conn: supervision.verify_interim(
            conn,
            crew["inspector"],
            finding_id,
            "现场核实：相关区域已停用，人员已撤离",
            [],
            policy,
            when + 2 * day,
        ),
        lambda conn: submit_rectification(
            conn, crew["head"], finding_id, "防火门已更换，安全出口已疏通", [], when + 6 * day
        ),
        lambda conn: verify(
            conn, crew["inspector"], finding_id, True, "复查合格，报请验收", [], policy, when + 7 * day
        ),
        lambda conn: supervision.accept(
            conn, crew["chief"], finding_id, True, "现场验收合格，验收报告存档", [], policy, when + 9 * day
        ),
        lambda conn: supervision.sign_off(
            conn, crew["lead"], finding_id, "同意销号", policy, when + 10 * day
        ),
    ]
    for take in walk[:steps]:
        async with engine.begin() as conn:
            await take(conn)
