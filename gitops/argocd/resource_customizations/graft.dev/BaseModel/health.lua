-- Argo CD health of a Graft object (BaseModel, Adapter, AdapterSet: the same script for each kind).
-- Graft writes three conditions together (Ready, Reconciling, Stalled) with the generation they
-- describe; this reads them as Flux's kstatus does, and also calls an object with no status yet
-- Progressing (kstatus calls it Current). Only the libraries Argo CD opens by default are used
-- (base, table): no string library.
local hs = { status = "Progressing", message = "" }
local meta = obj.metadata or {}
local status = obj.status

local function describe(c, withReason)
  if c.message ~= nil and c.message ~= "" then
    if withReason then return c.reason .. ": " .. c.message end
    return c.message
  end
  return c.reason or c.type
end

if meta.deletionTimestamp ~= nil then
  hs.message = "Deleting"
  if meta.finalizers ~= nil and #meta.finalizers > 0 then
    hs.message = "Deleting: waiting for finalizers " .. table.concat(meta.finalizers, ", ")
  end
  return hs
end

if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.message = "Waiting for the Graft operator to report status"
  return hs
end

local generation = meta.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the Graft operator to observe generation " .. generation
  return hs
end

local byType = {}
for _, c in ipairs(status.conditions) do
  -- A condition written for an older generation says nothing about this one.
  if c.observedGeneration == nil or generation == nil or c.observedGeneration >= generation then
    byType[c.type] = c
  end
end

local stalled = byType["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, true)
  return hs
end

local reconciling = byType["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling, true)
  return hs
end

local ready = byType["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, false)
  return hs
end

if ready ~= nil then
  hs.message = describe(ready, true)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
