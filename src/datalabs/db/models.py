"""Every model, imported so that ``Base.metadata`` knows all tables (Alembic, tests)."""

from datalabs.archive.models import (ArchiveAttribute, ArchiveIndex, ArchiveLabelProblem, ArchiveProduct,
                                     ArchiveScan, ArchiveTable)
from datalabs.accounts.models import ApiToken, LoginSession, Team, TeamMembership, User
from datalabs.catalogue.models import Datalab, DatalabVersion, Environment
from datalabs.db.base import Base
from datalabs.discovery.models import DiscoveryAsset, DiscoveryFacetValue, DiscoveryReader, DiscoveryState
from datalabs.pipelines.models import Pipeline, PipelineJob, PipelineRun, PipelineRunEvent, PipelineVersion
from datalabs.sessions.models import LabSession, LabSessionEvent
from datalabs.storage.models import Dataset, DatasetTeam
from datalabs.tap.models import TapJob

__all__ = ["ApiToken", "ArchiveAttribute", "ArchiveIndex", "ArchiveLabelProblem", "ArchiveProduct", "ArchiveScan",
           "ArchiveTable", "TapJob", "Base", "Datalab", "DatalabVersion", "DiscoveryAsset", "DiscoveryFacetValue",
           "DiscoveryReader", "DiscoveryState", "Environment", "Dataset", "DatasetTeam", "LabSession", "LabSessionEvent", "LoginSession", "Pipeline", "PipelineJob", "PipelineRun", "PipelineRunEvent", "PipelineVersion", "Team", "TeamMembership", "User"]
