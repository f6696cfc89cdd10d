"""/members: list, add, change role, remove (never the last owner)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from imagefactory.api import paginate
from imagefactory.errors import NotFound
from imagefactory.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS, page_of
from tenants import permissions as perms
from tenants import services
from tenants.api.serializers import (
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
)
from tenants.selectors import members_of

MEMBER_PAGE = page_of(MemberSerializer, key="members", name="MemberList")


class MemberListView(APIView):
    required_permissions = {"GET": perms.MEMBER_LIST, "POST": perms.MEMBER_MANAGE}

    @extend_schema(parameters=PAGINATION_PARAMETERS, responses={200: MEMBER_PAGE, **ERROR_RESPONSES},
                   tags=["Members"])
    def get(self, request):
        page = paginate(members_of(request.tenant), request)
        return Response(page.envelope("members", MemberSerializer(page.items, many=True).data))

    @extend_schema(request=MemberCreateSerializer, responses={201: MemberSerializer, **ERROR_RESPONSES},
                   tags=["Members"])
    def post(self, request):
        data = MemberCreateSerializer.validated(request.data)
        membership = services.add_member(tenant=request.tenant, email=data["email"], role_name=data["role"])
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    required_permissions = {"GET": perms.MEMBER_LIST, "PATCH": perms.MEMBER_MANAGE,
                            "DELETE": perms.MEMBER_MANAGE}

    def _membership(self, request, member_id: str):
        try:
            return members_of(request.tenant).get(pk=int(member_id))
        except (ValueError, OverflowError):
            raise NotFound("Member not found") from None
        except members_of(request.tenant).model.DoesNotExist:
            raise NotFound("Member not found") from None

    @extend_schema(responses={200: MemberSerializer, **ERROR_RESPONSES}, tags=["Members"])
    def get(self, request, member_id: str):
        return Response(MemberSerializer(self._membership(request, member_id)).data)

    @extend_schema(request=MemberUpdateSerializer, responses={200: MemberSerializer, **ERROR_RESPONSES},
                   tags=["Members"])
    def patch(self, request, member_id: str):
        membership = self._membership(request, member_id)  # 404 before 400, like /projects/{id}
        data = MemberUpdateSerializer.validated(request.data)
        membership = services.change_member_role(membership=membership, role_name=data["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None, **ERROR_RESPONSES}, tags=["Members"])
    def delete(self, request, member_id: str):
        services.remove_member(membership=self._membership(request, member_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
