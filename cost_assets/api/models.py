"""Response shapes of the cost API (docs/reference.md#cost-api); they are also its OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from pydantic import BaseModel


class Team(BaseModel):
    team: str
    totalCost: float
    serviceCount: int


class Teams(BaseModel):
    asOf: Optional[dt.date]
    teams: list[Team]


class CostDriver(BaseModel):
    awsService: str
    cost: float


class ServiceReport(BaseModel):
    service: str
    team: str
    asOf: dt.date
    last30DaysCost: float
    dailyAverage: float
    trend: Optional[float]
    topCostDrivers: list[CostDriver]
    costPerRequest: Optional[float]
    costPerCustomer: Optional[float]
    missingDays: int


class ServiceSummary(BaseModel):
    service: str
    team: str
    last30DaysCost: float
    trend: Optional[float]


class Services(BaseModel):
    asOf: Optional[dt.date]
    services: list[ServiceSummary]


class ServiceCost(BaseModel):
    service: str
    cost: float


class CustomerEconomics(BaseModel):
    customerId: str
    customerName: str
    asOf: dt.date
    mrr: Optional[float]
    monthlyInfraCost: float
    grossMargin: Optional[float]
    costBreakdown: list[ServiceCost]
    costTrend: Optional[float]
    isNegativeMargin: bool
    fullyLoadedCost: float
    fullyLoadedMargin: Optional[float]
    missingDays: int


class AllocationLine(BaseModel):
    service: str
    method: str
    rule: str
    allocatedCost: float
    # The cost of the pools this customer's share came from, summed over the days.
    pooledCost: Optional[float]
    # allocatedCost / pooledCost: the customer's cost-weighted share of those pools.
    share: Optional[float]
    days: int


class AllocationHop(BaseModel):
    # 1..n: splits of services onto services; the last stage places cost on customers (null: written
    # before stages were recorded).
    stage: Optional[int]
    rule: str
    method: str
    # The service whose bill the dollars come from, and the service whose pool this hop split.
    originService: str
    fromService: str
    # service (a split onto another service: the whole pool's hop) or customer (this customer's share).
    recipientKind: str
    recipient: str
    driverService: Optional[str]
    driverMetric: Optional[str]
    # The recipient's driver quantity summed over the days (metric units; USD for cost).
    driverQuantity: Optional[float]
    cost: float
    days: int


class CustomerAllocation(BaseModel):
    customerId: str
    asOf: dt.date
    days: int
    total: float
    allocation: list[AllocationLine]
    hops: list[AllocationHop]


class EconomicsDay(BaseModel):
    # The trailing 30 days up to this day, as /costs/customers/{id}?as_of=<this day> answers.
    asOf: dt.date
    mrr: Optional[float]
    monthlyInfraCost: float
    grossMargin: Optional[float]
    fullyLoadedCost: float
    fullyLoadedMargin: Optional[float]
    missingDays: int


class CustomerHistory(BaseModel):
    customerId: str
    customerName: str
    asOf: dt.date
    days: int
    history: list[EconomicsDay]


class Customers(BaseModel):
    asOf: Optional[dt.date]
    customers: list[CustomerEconomics]


class RootCause(BaseModel):
    # account, awsService, chargeCategory, environment or customer
    dimension: str
    # The account id, provider service, ...; "(other)" for the values past a dimension's top 10.
    value: str
    # Dollars of the anomaly's excess due to the value; a dimension's add up to impactUsd within a cent.
    impactUsd: float


class Anomaly(BaseModel):
    service: str
    date: dt.date
    currentDaily: float
    expectedDaily: Optional[float]
    impactUsd: float
    deviation: Optional[float]
    severity: str
    detector: str
    incidentId: str
    incidentStart: dt.date
    isProvisional: bool
    # Why the day was flagged, in the words of the detector (as in the Slack alert).
    reason: str
    # The excess split over each dimension of the cost, largest first (docs/reference.md#root-causes).
    rootCauses: list[RootCause]


class Anomalies(BaseModel):
    anomalies: list[Anomaly]


class TrendDay(BaseModel):
    date: dt.date
    total: float
    byTeam: dict[str, float]
    # Some of the day's cost is still the provider's estimate and may be revised.
    isEstimated: bool


class Trend(BaseModel):
    trend: list[TrendDay]


class ErrorBody(BaseModel):
    detail: str


class WasteResource(BaseModel):
    resourceId: str
    offHoursCost: Optional[float]
    schedulableOffHoursCost: Optional[float]
    monthlySaving: Optional[float]


class WasteEnvironment(BaseModel):
    environment: str
    totalCost: Optional[float]
    offHoursCost: Optional[float]
    schedulableOffHoursCost: Optional[float]
    schedulableShare: Optional[float]
    monthlySaving: Optional[float]
    hoursObserved: int
    hoursExpected: int
    offHoursObserved: int
    offHoursExpected: int
    coverage: Optional[float]


class WasteOpportunity(BaseModel):
    environment: str
    service: str
    team: str
    totalCost: Optional[float]
    offHoursCost: Optional[float]
    offHoursShare: Optional[float]
    schedulableOffHoursCost: Optional[float]
    schedulableShare: Optional[float]
    monthlySaving: Optional[float]
    hoursObserved: int
    hoursExpected: int
    coverage: Optional[float]
    topResources: list[WasteResource]


class Waste(BaseModel):
    asOf: Optional[dt.date]
    windowStart: Optional[dt.date]
    workingHours: Optional[str]
    totalCost: float
    offHoursCost: float
    schedulableOffHoursCost: float
    monthlySaving: Optional[float]
    environments: list[WasteEnvironment]
    waste: list[WasteOpportunity]


class ForecastTotal(BaseModel):
    actualToDate: float
    forecast: float
    # The 80% interval of the month's cost.
    low: float
    high: float


class CustomerForecast(ForecastTotal):
    customerId: str
    mrr: Optional[float]
    # (mrr - forecast) / mrr in percent; null without a positive MRR.
    forecastMargin: Optional[float]


class Forecast(BaseModel):
    asOf: dt.date
    monthStart: dt.date
    monthEnd: dt.date
    company: ForecastTotal
    customers: list[CustomerForecast]
